package tests

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// TestNodeSelectorExcludesNodes runs a second instance with upstream's test
// selector (--node-selector=metrics-server-skip!=true) while node-2 carries
// the label: node-2 is neither listed nor served, and neither are its pods.
func TestNodeSelectorExcludesNodes(t *testing.T) {
	ctx := context.Background()
	const skipped = "node-2"
	kubectl(t, "label", "node", skipped, "metrics-server-skip=true")
	t.Cleanup(func() { _, _ = kubectlErr("label", "node", skipped, "metrics-server-skip-") })
	instance := startExtraInstance(t, "selector", "--node-selector=metrics-server-skip!=true")
	admin := adminIdentity(t)

	var list nodeMetricsListJSON
	eventually(t, 3*defaultResolution, "the selected nodes served", func() (bool, string) {
		list = nodeMetricsListJSON{}
		mustJSON(t, "nodes", directGet(t, instance, metricsAPI+"/nodes", admin), &list)
		return slices.Equal(list.names(), []string{"node-1", "node-3"}), fmt.Sprint(list.names())
	})
	for _, item := range list.Items {
		if err := verifyNodeMetrics(ctx, item); err != nil {
			t.Error(err)
		}
	}
	expectStatus(t, "GET the excluded node", directGet(t, instance, metricsAPI+"/nodes/"+skipped, admin),
		failureStatus(404, "NotFound", fmt.Sprintf(`nodemetrics.metrics.k8s.io %q not found`, skipped),
			map[string]any{"name": skipped, "group": "metrics.k8s.io", "kind": "nodemetrics"}))
	// A labelSelector narrows the node selector further; it cannot widen it.
	for selector, want := range map[string][]string{
		"kubernetes.io/hostname=" + skipped: nil,
		"kubernetes.io/hostname=node-1":     {"node-1"},
	} {
		var l nodeMetricsListJSON
		mustJSON(t, selector, directGet(t, instance, metricsAPI+"/nodes?labelSelector="+url.QueryEscape(selector), admin), &l)
		if !slices.Equal(l.names(), want) {
			t.Errorf("labelSelector %s: %v, want %v", selector, l.names(), want)
		}
	}
	pods := apiPods(t)
	var pl podMetricsListJSON
	mustJSON(t, "pods", directGet(t, instance, metricsAPI+"/pods", admin), &pl)
	for _, item := range pl.Items {
		if p := pods[item.Metadata.Namespace+"/"+item.Metadata.Name]; p != nil && p.Spec.NodeName == skipped {
			t.Errorf("pod %s/%s served although its node is excluded", item.Metadata.Namespace, item.Metadata.Name)
		}
	}
	if len(pl.Items) == 0 {
		t.Error("no pod of the selected nodes served")
	}
}
