package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestServedValuesEqualWhatTheKubeletsReported reads every node and pod on
// every metrics path with `kubectl get --raw` (through the aggregator) and
// recomputes each value from the two kubelet samples its timestamp and window
// name (issues 3 and 5).
func TestServedValuesEqualWhatTheKubeletsReported(t *testing.T) {
	ctx := context.Background()
	// A served node's memory includes the pods that were on it when it was
	// scraped; /v1/sample answers with the pods there now. Wait for samples
	// taken after whatever earlier tests created, changed or deleted.
	settled := time.Now()
	eventually(t, 3*defaultResolution, "every node sampled after the test started", func() (bool, string) {
		var list nodeMetricsListJSON
		kubectlRaw(t, metricsAPI+"/nodes", &list)
		for _, item := range list.Items {
			if !item.Timestamp.After(settled) {
				return false, fmt.Sprintf("node %s sampled at %s, before %s", item.Metadata.Name, item.Timestamp, settled)
			}
		}
		return len(list.Items) > 0, "no nodes served"
	})
	nodes := apiNodes(t)
	var pods map[string]*corev1.Pod
	var podList podMetricsListJSON
	// Another test may have just restarted a container or created a pod: wait
	// until every settled pod has history again.
	eventually(t, 4*defaultResolution, "every running pod served", func() (bool, string) {
		pods = apiPods(t)
		podList = podMetricsListJSON{}
		kubectlRaw(t, metricsAPI+"/pods", &podList)
		var missing []string
		for _, key := range servablePods(pods, 2*defaultResolution+5*time.Second) {
			ns, name := splitKey(key)
			if _, ok := podList.find(ns, name); !ok {
				missing = append(missing, key)
			}
		}
		return len(missing) == 0, fmt.Sprint("missing: ", missing)
	})

	t.Run("nodes", func(t *testing.T) {
		var list nodeMetricsListJSON
		kubectlRaw(t, metricsAPI+"/nodes", &list)
		checkListEnvelope(t, "NodeMetricsList", list.Kind, list.APIVersion, list.Metadata)
		wantNames := slices.Sorted(maps.Keys(nodes))
		if got := list.names(); !slices.Equal(got, wantNames) {
			t.Errorf("node list %v, want every node sorted by name %v", got, wantNames)
		}
		for _, item := range list.Items {
			checkNode(t, ctx, "list item", item, nodes, false)
		}
		t.Logf("checked %d nodes", len(list.Items))
		for _, name := range wantNames {
			var nm nodeMetricsJSON
			kubectlRaw(t, metricsAPI+"/nodes/"+name, &nm)
			if nm.Metadata.Name != name {
				t.Errorf("GET nodes/%s returned %q", name, nm.Metadata.Name)
			}
			checkNode(t, ctx, "GET", nm, nodes, true)
		}
	})

	t.Run("pods", func(t *testing.T) {
		checkListEnvelope(t, "PodMetricsList", podList.Kind, podList.APIVersion, podList.Metadata)
		checkPodOrder(t, "all namespaces", podList)
		namespaces := map[string]bool{}
		for _, item := range podList.Items {
			namespaces[item.Metadata.Namespace] = true
			checkPod(t, ctx, "list item", item, pods, false)
		}
		for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
			var nsList podMetricsListJSON
			kubectlRaw(t, metricsAPI+"/namespaces/"+ns+"/pods", &nsList)
			checkListEnvelope(t, "PodMetricsList", nsList.Kind, nsList.APIVersion, nsList.Metadata)
			checkPodOrder(t, "namespace "+ns, nsList)
			for _, item := range nsList.Items {
				if item.Metadata.Namespace != ns {
					t.Errorf("namespace %s list holds %s/%s", ns, item.Metadata.Namespace, item.Metadata.Name)
				}
				checkPod(t, ctx, "namespace list item", item, pods, false)
			}
		}
		t.Logf("checked %d pods in %d namespaces", len(podList.Items), len(namespaces))
		for _, item := range podList.Items {
			path := metricsAPI + "/namespaces/" + item.Metadata.Namespace + "/pods/" + item.Metadata.Name
			var pm podMetricsJSON
			kubectlRaw(t, path, &pm)
			checkPod(t, ctx, "GET", pm, pods, true)
		}
	})
}

// kubectlRaw decodes `kubectl get --raw path`.
func kubectlRaw(t *testing.T, path string, into any) {
	t.Helper()
	stdout, stderr, err := (kubectlBinary{path: "kubectl"}).run("get", "--raw", path)
	if err != nil {
		t.Fatalf("kubectl get --raw %s: %v\n%s%s", path, err, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), into); err != nil {
		t.Fatalf("kubectl get --raw %s: %v\n%s", path, err, stdout)
	}
}

func splitKey(key string) (string, string) {
	for i := range len(key) {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

func checkListEnvelope(t *testing.T, kind, gotKind, gotVersion string, meta map[string]any) {
	t.Helper()
	if gotKind != kind || gotVersion != "metrics.k8s.io/v1beta1" || len(meta) != 0 {
		t.Errorf("list envelope kind=%q apiVersion=%q metadata=%v, want %s metrics.k8s.io/v1beta1 {}", gotKind, gotVersion, meta, kind)
	}
}

func checkPodOrder(t *testing.T, what string, list podMetricsListJSON) {
	t.Helper()
	sorted := sort.SliceIsSorted(list.Items, func(i, j int) bool {
		a, b := list.Items[i].Metadata, list.Items[j].Metadata
		return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
	})
	if !sorted {
		var keys []string
		for _, p := range list.Items {
			keys = append(keys, p.Metadata.Namespace+"/"+p.Metadata.Name)
		}
		t.Errorf("%s: pods not sorted by namespace, then name: %v", what, keys)
	}
}

// checkNode checks the envelope, labels and values of one NodeMetrics; single
// GETs carry kind and apiVersion, list items do not.
func checkNode(t *testing.T, ctx context.Context, how string, nm nodeMetricsJSON, nodes map[string]*corev1.Node, single bool) {
	t.Helper()
	name := nm.Metadata.Name
	checkObjectKind(t, how+" node "+name, "NodeMetrics", nm.Kind, nm.APIVersion, single)
	node, ok := nodes[name]
	if !ok {
		t.Errorf("%s: node %s does not exist", how, name)
		return
	}
	if !maps.Equal(nm.Metadata.Labels, node.Labels) {
		t.Errorf("%s node %s: labels %v, the Node has %v", how, name, nm.Metadata.Labels, node.Labels)
	}
	if _, err := time.Parse(time.RFC3339, nm.Metadata.CreationTimestamp); err != nil {
		t.Errorf("%s node %s: creationTimestamp %q: %v", how, name, nm.Metadata.CreationTimestamp, err)
	}
	if err := verifyNodeMetrics(ctx, nm); err != nil {
		t.Errorf("%s: %v", how, err)
	}
}

// checkPod checks one PodMetrics; when the read does not pin down every
// container's window it reads the pod again.
func checkPod(t *testing.T, ctx context.Context, how string, pm podMetricsJSON, pods map[string]*corev1.Pod, single bool) {
	t.Helper()
	key := pm.Metadata.Namespace + "/" + pm.Metadata.Name
	checkObjectKind(t, how+" pod "+key, "PodMetrics", pm.Kind, pm.APIVersion, single)
	pod, ok := pods[key]
	if !ok || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("%s: pod %s is served but is not a Running pod", how, key)
		return
	}
	if !maps.Equal(pm.Metadata.Labels, pod.Labels) {
		t.Errorf("%s pod %s: labels %v, the Pod has %v", how, key, pm.Metadata.Labels, pod.Labels)
	}
	want := expectationFor(pod)
	for attempt := 1; ; attempt++ {
		err := verifyPodMetrics(ctx, pm, want, defaultResolution, apiNodeWindow(t, want.node))
		if err == nil {
			return
		}
		if !errors.Is(err, errAmbiguousWindow) || attempt == 3 {
			t.Errorf("%s: %v", how, err)
			return
		}
		mustJSON(t, "GET pod "+key, apiGet(t, metricsAPI+"/namespaces/"+pm.Metadata.Namespace+"/pods/"+pm.Metadata.Name, adminIdentity(t)), &pm)
	}
}

func checkObjectKind(t *testing.T, what, kind, gotKind, gotVersion string, single bool) {
	t.Helper()
	wantKind, wantVersion := "", ""
	if single {
		wantKind, wantVersion = kind, "metrics.k8s.io/v1beta1"
	}
	if gotKind != wantKind || gotVersion != wantVersion {
		t.Errorf("%s: kind=%q apiVersion=%q, want %q %q", what, gotKind, gotVersion, wantKind, wantVersion)
	}
}
