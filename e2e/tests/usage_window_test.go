package tests

// --usage-window: CPU over a rolling window of kept samples instead of
// upstream's two points.

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestUsageWindowServesTheRateOverTheWindow runs an instance with a 45 s
// window at the default 15 s resolution: once three resolutions have passed,
// every node is served with a window longer than one resolution (two points
// cannot give that), at most the window plus a resolution's jitter, and its
// usage is exactly the rate between the kubelet's samples at both ends.
func TestUsageWindowServesTheRateOverTheWindow(t *testing.T) {
	const window = 45 * time.Second
	instance := startExtraInstance(t, "usage-window", "--usage-window="+window.String())
	admin := adminIdentity(t)
	ctx := context.Background()
	eventually(t, 5*defaultResolution, "every node served over more than one resolution", func() (bool, string) {
		var list nodeMetricsListJSON
		mustJSON(t, "nodes", directGet(t, instance, metricsAPI+"/nodes", admin), &list)
		if len(list.Items) != testNodes {
			return false, fmt.Sprint("nodes listed: ", list.names())
		}
		for _, node := range list.Items {
			served, err := time.ParseDuration(node.Window)
			if err != nil {
				return false, err.Error()
			}
			if served <= defaultResolution+time.Second {
				return false, fmt.Sprintf("%s: window %v", node.Metadata.Name, served)
			}
			if served > window+defaultResolution {
				t.Errorf("%s: window %v beyond %v", node.Metadata.Name, served, window)
			}
			if err := verifyNodeMetrics(ctx, node); err != nil {
				t.Errorf("%s: %v", node.Metadata.Name, err)
			}
		}
		return true, ""
	})
	// A window shorter than the resolution is refused before anything starts
	// (the flag tests cover the other bounds).
	for _, bad := range []string{"5s"} {
		if err := startExtraInstanceAsync(t, "bad-usage-window-"+bad, "--usage-window="+bad)(); err == nil {
			t.Errorf("--usage-window=%s started", bad)
		}
	}
}
