package tests

// The cluster changing under metrics-server: kube-apiserver restarted
// mid-run (its watches must recover, relist after 410 Gone, and lose or keep
// nothing they should not) and a node deleted while scrapes run.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/scenario"
)

// TestWatchesRecoverFromAKubeAPIServerRestart stops kube-apiserver for a few
// seconds and starts it again (same port, same etcd), as a control-plane
// upgrade does. Both watches must fail (counted), resume, relist when their
// resource version is older than the new kube-apiserver's cache (410 Gone:
// a write just before the restart makes sure it is), report healthy again,
// and follow the pod deleted and the pod created right after the restart.
func TestWatchesRecoverFromAKubeAPIServerRestart(t *testing.T) {
	ctx := context.Background()
	const ns, gone, fresh = "default", "e2e-before-restart", "e2e-after-restart"
	usage := scenario.UsageSpec{CPU: ptr(scenario.MustQuantity("70m")), Memory: ptr(scenario.MustQuantity("30Mi"))}
	createControlPod(t, controlapi.PodRequest{Namespace: ns, Name: gone, Labels: map[string]string{"app": gone},
		Containers: []scenario.Container{{Name: "main", Usage: usage}}})
	eventually(t, 3*defaultResolution, "pod "+gone+" served before the restart", func() (bool, string) {
		return podServedDirectly(t, ns, gone)
	})

	before, _ := selfMetrics(t, defaultInstance)
	failures0 := counterByLabel(before, "cluster_watch_failures_total", "resource")
	relists0 := counterByLabel(before, "cluster_watch_relists_total", "resource")
	offset := logSize(t, defaultInstance)
	// A write neither watch sees: their resource versions are then older than
	// anything the new kube-apiserver's watch cache holds.
	kubectl(t, "-n", ns, "create", "configmap", "e2e-restart-marker", "--from-literal=at="+time.Now().Format(time.RFC3339Nano))
	t.Cleanup(func() { _, _ = kubectlErr("-n", ns, "delete", "configmap", "e2e-restart-marker", "--ignore-not-found") })

	rctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	restarted, err := control.RestartAPIServer(rctx, 5*time.Second)
	if err != nil {
		t.Fatalf("restarting kube-apiserver: %v", err)
	}
	t.Logf("kube-apiserver restarted (pid %d) in %s", restarted.PID, restarted.Took)
	// Right after the restart, possibly before the watches are back.
	if err := control.DeletePod(ctx, ns, gone); err != nil {
		t.Fatal(err)
	}
	createControlPod(t, controlapi.PodRequest{Namespace: ns, Name: fresh, Labels: map[string]string{"app": fresh},
		Containers: []scenario.Container{{Name: "main", Usage: usage}}})

	eventually(t, 2*time.Minute, "both watches failed, relisted and healthy again", func() (bool, string) {
		families, _ := selfMetrics(t, defaultInstance)
		failures := counterByLabel(families, "cluster_watch_failures_total", "resource")
		relists := counterByLabel(families, "cluster_watch_relists_total", "resource")
		healthy := gaugeByLabel(families, "cluster_watch_healthy", "resource")
		for _, r := range []string{"nodes", "pods"} {
			if failures[r] <= failures0[r] || relists[r] <= relists0[r] || healthy[r] != 1 {
				return false, fmt.Sprintf("failures %v (before %v), relists %v (before %v), healthy %v", failures, failures0, relists, relists0, healthy)
			}
		}
		return true, ""
	})
	log := readLog(t, defaultInstance, offset)
	for _, want := range []string{"relisting", "watch recovered"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log after the restart does not say %q:\n%s", want, log)
		}
	}
	// Nothing stale, nothing lost: the deleted pod leaves, the new one comes.
	eventually(t, 3*defaultResolution, "the pods as the cluster has them after the restart", func() (bool, string) {
		goneServed, _ := podServedDirectly(t, ns, gone)
		freshServed, detail := podServedDirectly(t, ns, fresh)
		return !goneServed && freshServed, fmt.Sprintf("%s served: %v; %s served: %v (%s)", gone, goneServed, fresh, freshServed, detail)
	})
	// And through the aggregator again, as `kubectl top` reads it.
	eventually(t, 2*time.Minute, "kubectl top node through the restarted kube-apiserver", func() (bool, string) {
		out, err := kubectlErr("top", "node")
		return err == nil && strings.Count(out, "node-") == testNodes, out
	})
	waitAllNodesServed(t)
}

// TestADeletedNodeLeavesWithinOneCycle deletes a node (its kubelet keeps
// answering, as a node being drained and removed does): its metrics and its
// pods' must go within one scrape cycle, and come back when the node does.
func TestADeletedNodeLeavesWithinOneCycle(t *testing.T) {
	const node = "node-2"
	saved := kubectl(t, "get", "node", node, "-o", "json")
	var obj corev1.Node
	if err := json.Unmarshal([]byte(saved), &obj); err != nil {
		t.Fatal(err)
	}
	onNode := podsServedOn(t, node)
	if len(onNode) == 0 {
		t.Fatalf("no pods of %s served before the test", node)
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		obj.ObjectMeta.ResourceVersion, obj.ObjectMeta.UID, obj.ObjectMeta.ManagedFields = "", "", nil
		data, err := json.Marshal(&obj)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("kubectl", "--kubeconfig", env["KUBECONFIG"], "create", "-f", "-")
		cmd.Stdin = strings.NewReader(string(data))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("recreating node %s: %v\n%s", node, err, out)
		}
	}
	t.Cleanup(restore)

	kubectl(t, "delete", "node", node, "--wait=true")
	deleted := time.Now()
	// The node itself goes as soon as its watch event arrives (as upstream,
	// which reads nodes from its informer before the store) ...
	eventually(t, 5*time.Second, node+" no longer served", func() (bool, string) {
		r := directGet(t, defaultInstance, metricsAPI+"/nodes/"+node, adminIdentity(t))
		return r.status == http.StatusNotFound, r.String()
	})
	// ... its pods, which still exist, with the next cycle, which no longer
	// scrapes the node: one cycle plus the watch event's way here.
	eventually(t, defaultResolution+3*time.Second, node+" and its pods no longer served", func() (bool, string) {
		r := directGet(t, defaultInstance, metricsAPI+"/nodes/"+node, adminIdentity(t))
		left := podsServedOn(t, node)
		return r.status == http.StatusNotFound && len(left) == 0, fmt.Sprintf("GET node: %d; pods still served: %v", r.status, left)
	})
	t.Logf("%s left the served metrics %s after its deletion", node, time.Since(deleted).Round(time.Millisecond))
	for _, path := range []string{metricsAPI + "/nodes", metricsAPI + "/pods"} {
		if r := directGet(t, defaultInstance, path, adminIdentity(t)); r.status != http.StatusOK {
			t.Errorf("GET %s after the deletion: %s", path, r)
		}
	}

	restore()
	eventually(t, 3*defaultResolution, node+" and its pods served again", func() (bool, string) {
		r := directGet(t, defaultInstance, metricsAPI+"/nodes/"+node, adminIdentity(t))
		back := podsServedOn(t, node)
		return r.status == http.StatusOK && len(back) == len(onNode), fmt.Sprintf("GET node: %d; pods served %d of %d", r.status, len(back), len(onNode))
	})
}

// podServedDirectly reports whether the default instance serves a pod.
func podServedDirectly(t *testing.T, ns, name string) (bool, string) {
	t.Helper()
	r := directGet(t, defaultInstance, metricsAPI+"/namespaces/"+ns+"/pods/"+name, adminIdentity(t))
	return r.status == http.StatusOK, r.String()
}

// podsServedOn lists the pods the default instance serves that the cluster
// has bound to node.
func podsServedOn(t *testing.T, node string) []string {
	t.Helper()
	var list podMetricsListJSON
	mustJSON(t, "pods", directGet(t, defaultInstance, metricsAPI+"/pods", adminIdentity(t)), &list)
	pods := apiPods(t)
	var out []string
	for _, pm := range list.Items {
		key := pm.Metadata.Namespace + "/" + pm.Metadata.Name
		if p, ok := pods[key]; ok && p.Spec.NodeName == node {
			out = append(out, key)
		}
	}
	return out
}
