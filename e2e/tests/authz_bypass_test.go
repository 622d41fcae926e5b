package tests

// Issue 11's authorization bypass, through the real aggregator: a
// ServiceAccount allowed one pod by resourceNames must never get other pods
// by repeating a query parameter. The kube-apiserver authorizes the first
// value; metrics-server must serve the first value too (or refuse).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const bypassNamespace = "e2e-authz-bypass"

func TestRepeatedQueryParametersCannotWidenAResourceNamesGrant(t *testing.T) {
	admin := adminIdentity(t)
	var all podMetricsListJSON
	eventually(t, 2*time.Minute, "two pods with metrics in default", func() (bool, string) {
		r := apiGet(t, metricsAPI+"/namespaces/default/pods", admin)
		if r.status != http.StatusOK || json.Unmarshal(r.body, &all) != nil {
			return false, r.String()
		}
		return len(all.Items) >= 2, string(r.body)
	})
	granted, other := all.Items[0].Metadata.Name, all.Items[1].Metadata.Name

	kubectl(t, "create", "namespace", bypassNamespace)
	t.Cleanup(func() { _, _ = kubectlErr("delete", "namespace", bypassNamespace, "--wait=false") })
	kubectl(t, "-n", bypassNamespace, "create", "serviceaccount", "single")
	kubectl(t, "-n", "default", "create", "role", "e2e-one-pod-metrics", "--verb=get,list",
		"--resource=pods.metrics.k8s.io", "--resource-name="+granted)
	t.Cleanup(func() { _, _ = kubectlErr("-n", "default", "delete", "role", "e2e-one-pod-metrics") })
	kubectl(t, "-n", "default", "create", "rolebinding", "e2e-one-pod-metrics", "--role=e2e-one-pod-metrics",
		"--serviceaccount="+bypassNamespace+":single")
	t.Cleanup(func() { _, _ = kubectlErr("-n", "default", "delete", "rolebinding", "e2e-one-pod-metrics") })
	who := identity{token: strings.TrimSpace(kubectl(t, "-n", bypassNamespace, "create", "token", "single"))}

	pinned := "fieldSelector=" + url.QueryEscape("metadata.name="+granted)
	base := metricsAPI + "/namespaces/default/pods?"
	eventually(t, 30*time.Second, "the grant is in effect", func() (bool, string) {
		r := apiGet(t, base+pinned, who)
		return r.status == http.StatusOK, r.String()
	})

	for _, query := range []string{
		pinned,
		pinned + "&fieldSelector=",
		pinned + "&fieldSelector=" + url.QueryEscape("metadata.name="+other),
		pinned + "&labelSelector=&fieldSelector=" + url.QueryEscape("metadata.name!=x"),
	} {
		r := apiGet(t, base+query, who)
		if r.status == http.StatusBadRequest || r.status == http.StatusForbidden {
			continue
		}
		var list podMetricsListJSON
		if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil {
			t.Errorf("?%s: %s", query, r)
			continue
		}
		for _, item := range list.Items {
			if item.Metadata.Name != granted {
				t.Errorf("?%s served pod %q to a subject granted only %q", query, item.Metadata.Name, granted)
			}
		}
	}
	// Authorized as a watch, which the grant does not allow: never answered as a list.
	for _, query := range []string{"watch=yes", "watch=1&watch=0"} {
		r := apiGet(t, base+pinned+"&"+query, who)
		if r.status == http.StatusOK {
			t.Errorf("?%s&%s answered 200 (served as a list): %s", pinned, query, r)
		}
	}
}
