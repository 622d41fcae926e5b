package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/scenario"
)

func TestKubectlShowsAllNodesReady(t *testing.T) {
	out := kubectl(t, "get", "nodes", "--no-headers")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != testNodes {
		t.Fatalf("want %d nodes, got:\n%s", testNodes, out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) < 2 || f[1] != "Ready" {
			t.Fatalf("node not Ready: %q", l)
		}
	}
}

func TestPodsRunOnTheSimulatedNodes(t *testing.T) {
	out := kubectl(t, "get", "pods", "-A", "--no-headers", "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,PHASE:.status.phase,NODE:.spec.nodeName")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < testNodes*testPodsPerNode+1 {
		t.Fatalf("too few pods:\n%s", out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) != 4 || f[2] != "Running" || !strings.HasPrefix(f[3], "node-") {
			t.Fatalf("pod not running on a sandbox node: %q", l)
		}
	}
}

// TestKubeletAuthenticatesAndAuthorizesLikeAKubelet covers webhook mode:
// TokenReview for bearer tokens, x509 for client certificates, then a
// SubjectAccessReview on nodes/metrics.
func TestKubeletAuthenticatesAndAuthorizesLikeAKubelet(t *testing.T) {
	kubectl(t, "create", "namespace", "e2e-auth")
	t.Cleanup(func() { _, _ = kubectlErr("delete", "namespace", "e2e-auth", "--wait=false") })
	kubectl(t, "-n", "e2e-auth", "create", "serviceaccount", "metrics-reader")
	kubectl(t, "-n", "e2e-auth", "create", "serviceaccount", "nobody")
	kubectl(t, "create", "clusterrole", "e2e-node-metrics", "--verb=get", "--resource=nodes/metrics,nodes/stats")
	t.Cleanup(func() { _, _ = kubectlErr("delete", "clusterrole", "e2e-node-metrics") })
	kubectl(t, "create", "clusterrolebinding", "e2e-node-metrics", "--clusterrole=e2e-node-metrics", "--serviceaccount=e2e-auth:metrics-reader")
	t.Cleanup(func() { _, _ = kubectlErr("delete", "clusterrolebinding", "e2e-node-metrics") })
	// The kubelet caches denials for 30s: ask only once RBAC sees the binding.
	eventually(t, 30*time.Second, "RBAC binding visible", func() (bool, string) {
		out, _ := kubectlErr("auth", "can-i", "get", "nodes", "--subresource=metrics", "--as=system:serviceaccount:e2e-auth:metrics-reader")
		// kubectl also warns on stderr that nodes are not namespaced.
		fields := strings.Fields(out)
		return len(fields) > 0 && fields[len(fields)-1] == "yes", out
	})
	reader := strings.TrimSpace(kubectl(t, "-n", "e2e-auth", "create", "token", "metrics-reader"))
	nobody := strings.TrimSpace(kubectl(t, "-n", "e2e-auth", "create", "token", "nobody"))
	addr := nodeAddress(t, "node-1")

	r := mustKubeletGet(t, addr, "/metrics/resource", reader, nil)
	if r.status != 200 || !strings.Contains(r.body, "\nnode_cpu_usage_seconds_total ") {
		t.Fatalf("bound token: %d\n%s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	r = mustKubeletGet(t, addr, "/stats/summary", reader, nil)
	if r.status != 200 || !strings.HasPrefix(r.body, "{\n \"node\": {\n  \"nodeName\": \"node-1\"") {
		t.Fatalf("stats with a bound token: %d\n%.300s", r.status, r.body)
	}

	r = mustKubeletGet(t, addr, "/metrics/resource", nobody, nil)
	want := "Forbidden (user=system:serviceaccount:e2e-auth:nobody, verb=get, resource=nodes, subresource(s)=[metrics])\n"
	if r.status != 403 || r.body != want {
		t.Fatalf("unbound token: %d %q, want 403 %q", r.status, r.body, want)
	}
	r = mustKubeletGet(t, addr, "/metrics/resource", "", nil)
	if r.status != 401 || r.body != "Unauthorized" {
		t.Fatalf("no token: %d %q", r.status, r.body)
	}
	r = mustKubeletGet(t, addr, "/metrics/resource", "not-a-valid-token", nil)
	if r.status != 401 {
		t.Fatalf("bad token: %d %q", r.status, r.body)
	}
	r = mustKubeletGet(t, addr, "/metrics/resource", "", adminCert(t))
	if r.status != 200 {
		t.Fatalf("admin client certificate: %d %q", r.status, r.body)
	}
	r = mustKubeletGet(t, addr, "/metrics/resource", "", issueClientCert(t, "e2e-stranger"))
	if r.status != 403 || !strings.Contains(r.body, "user=e2e-stranger,") {
		t.Fatalf("unbound client certificate: %d %q", r.status, r.body)
	}
}

func TestAPIServerProxiesToTheSimulatedKubelet(t *testing.T) {
	if env["KUBELET_EXTERNAL_RANGE"] == "" {
		t.Skip("kubelets have no routable ExternalIP (sandbox not started as root)")
	}
	out := kubectl(t, "get", "--raw", "/api/v1/nodes/node-2/proxy/metrics/resource")
	if !strings.Contains(out, "\nnode_cpu_usage_seconds_total ") || !strings.Contains(out, `pod="filler-node-2-0"`) {
		t.Fatalf("node proxy answer:\n%s", out)
	}
	out = kubectl(t, "get", "--raw", "/api/v1/nodes/node-2/proxy/stats/summary?only_cpu_and_memory=true")
	var summary struct {
		Node struct {
			NodeName string `json:"nodeName"`
		} `json:"node"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil || summary.Node.NodeName != "node-2" {
		t.Fatalf("summary through the proxy: %v\n%.300s", err, out)
	}
}

// TestControlChangeShowsInTheNextScrapeAndMatchesTheExactSample changes a
// working set through the control endpoint, waits for it in a scrape, and
// checks that the exact-sample query agrees with every value served.
func TestControlChangeShowsInTheNextScrapeAndMatchesTheExactSample(t *testing.T) {
	ctx := context.Background()
	const ns, pod, ctr = "default", "filler-node-1-0", "app"
	if _, err := control.SetUsage(ctx, controlapi.UsageRequest{
		Namespace: ns, Pod: pod, Container: ctr, Memory: ptr(scenario.MustQuantity("123456789")),
	}); err != nil {
		t.Fatal(err)
	}
	addr := nodeAddress(t, "node-1")
	labels := fmt.Sprintf(`{container=%q,namespace=%q,pod=%q}`, ctr, ns, pod)
	var text string
	eventually(t, 30*time.Second, "new working set in a scrape", func() (bool, string) {
		r := mustKubeletGet(t, addr, "/metrics/resource", "", adminCert(t))
		text = r.body
		line, _ := sampleLine(text, "container_memory_working_set_bytes"+labels)
		return strings.Contains(line, " 1.23456789e+08 "), line
	})
	memLine, _ := sampleLine(text, "container_memory_working_set_bytes"+labels)
	ts, err := strconv.ParseInt(strings.Fields(memLine)[2], 10, 64)
	if err != nil {
		t.Fatalf("timestamp of %q: %v", memLine, err)
	}
	s, err := control.Sample(ctx, client.SampleQuery{Node: "node-1", Namespace: ns, Pod: pod, Container: ctr, AtMillis: ts})
	if err != nil {
		t.Fatal(err)
	}
	if s.TimestampMillis != ts || s.MemoryText != "1.23456789e+08" {
		t.Fatalf("sample %+v does not match %q", s, memLine)
	}
	for series, want := range map[string]string{
		"container_cpu_usage_seconds_total" + labels:  fmt.Sprintf("%s %d", s.CPUText, ts),
		"container_swap_usage_bytes" + labels:         fmt.Sprintf("%s %d", s.SwapText, ts),
		"container_start_time_seconds" + labels:       s.StartTimeText,
		"container_memory_working_set_bytes" + labels: fmt.Sprintf("%s %d", s.MemoryText, ts),
	} {
		line, ok := sampleLine(text, series)
		if !ok || line != series+" "+want {
			t.Errorf("served %q, exact sample says %q", line, series+" "+want)
		}
	}
	nodeSample, err := control.Sample(ctx, client.SampleQuery{Node: "node-1", AtMillis: ts})
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]string{
		"node_cpu_usage_seconds_total":  fmt.Sprintf("%s %d", nodeSample.CPUText, ts),
		"node_memory_working_set_bytes": fmt.Sprintf("%s %d", nodeSample.MemoryText, ts),
	} {
		if line, _ := sampleLine(text, series); line != series+" "+want {
			t.Errorf("served %q, exact sample says %q", line, series+" "+want)
		}
	}
}

func TestRestartMovesStartTimeAndResetsTheCounter(t *testing.T) {
	ctx := context.Background()
	const ns, pod, ctr = "team-b", "filler-node-2-0", "app"
	before, err := control.Sample(ctx, client.SampleQuery{Namespace: ns, Pod: pod, Container: ctr})
	if err != nil {
		t.Fatal(err)
	}
	res, err := control.Restart(ctx, ns, pod, ctr)
	if err != nil {
		t.Fatal(err)
	}
	if res.RestartCount != before.RestartCount+1 || !res.StartedAt.After(before.StartTime) {
		t.Fatalf("restart: %+v after %+v", res, before)
	}
	eventually(t, 20*time.Second, "restart count in the pod status", func() (bool, string) {
		out, _ := kubectlErr("-n", ns, "get", "pod", pod, "-o", `jsonpath={.status.containerStatuses[?(@.name=="app")].restartCount}`)
		return strings.TrimSpace(out) == strconv.Itoa(int(res.RestartCount)), out
	})
	eventually(t, 20*time.Second, "first tick after the restart", func() (bool, string) {
		after, err := control.Sample(ctx, client.SampleQuery{Namespace: ns, Pod: pod, Container: ctr})
		if err != nil {
			return false, err.Error()
		}
		return after.RestartCount == res.RestartCount && after.StartTime.Equal(res.StartedAt) &&
			after.CPUCoreNanoseconds < before.CPUCoreNanoseconds, fmt.Sprintf("%+v", after)
	})
}

// TestHPAControllerWritesStatus: without a metrics API the HPA reports
// ScalingActive=False/FailedGetResourceMetric, which is still status written
// by the real controller.
func TestHPAControllerWritesStatus(t *testing.T) {
	kubectlApply(t, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: hpa-demo
  namespace: default
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hpa-demo}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`)
	t.Cleanup(func() { _, _ = kubectlErr("-n", "default", "delete", "hpa", "hpa-demo") })
	eventually(t, 60*time.Second, "HPA status conditions", func() (bool, string) {
		out, _ := kubectlErr("-n", "default", "get", "hpa", "hpa-demo", "-o",
			`jsonpath={range .status.conditions[*]}{.type}={.status}/{.reason};{end}`)
		return strings.Contains(out, "AbleToScale=True") && strings.Contains(out, "ScalingActive="), out
	})
	scale := kubectl(t, "-n", "default", "get", "deployment", "hpa-demo", "--subresource=scale", "-o", "jsonpath={.spec.replicas}")
	if strings.TrimSpace(scale) == "" {
		t.Fatal("the Deployment has no scale subresource")
	}
}

func TestFaultsChangeOneKubelet(t *testing.T) {
	ctx := context.Background()
	addr := nodeAddress(t, "node-3")
	t.Cleanup(func() { _ = control.ClearFaults(ctx) })
	if err := control.SetFaults(ctx, controlapi.Faults{HTTP500: true}, "node-3"); err != nil {
		t.Fatal(err)
	}
	if r := mustKubeletGet(t, addr, "/metrics/resource", "", adminCert(t)); r.status != 500 {
		t.Fatalf("http500 fault: %d", r.status)
	}
	if r := mustKubeletGet(t, nodeAddress(t, "node-2"), "/metrics/resource", "", adminCert(t)); r.status != 200 {
		t.Fatalf("fault leaked to node-2: %d", r.status)
	}
	if err := control.SetFaults(ctx, controlapi.Faults{NotFound: true}, "node-3"); err != nil {
		t.Fatal(err)
	}
	if r := mustKubeletGet(t, addr, "/metrics/resource", "", adminCert(t)); r.status != 404 {
		t.Fatalf("notFound fault: %d", r.status)
	}
	if err := control.SetFaults(ctx, controlapi.Faults{WrongCertificate: true}, "node-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := kubeletGet(t, addr, "/metrics/resource", "", adminCert(t)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong certificate accepted: %v", err)
	}
	if err := control.ClearFaults(ctx, "node-3"); err != nil {
		t.Fatal(err)
	}
	if r := mustKubeletGet(t, addr, "/metrics/resource", "", adminCert(t)); r.status != 200 {
		t.Fatalf("after clearing: %d", r.status)
	}
	sum, err := control.Summary(ctx, "node-3")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Nodes[0].Requests.MetricsResource < 3 || sum.Nodes[0].Faults != nil {
		t.Fatalf("node-3 summary: %+v", sum.Nodes[0])
	}
}

func TestSelectorUsageAppliesToFuturePods(t *testing.T) {
	ctx := context.Background()
	if _, err := control.SetUsage(ctx, controlapi.UsageRequest{
		Namespace: "default", Selector: "app=e2e-future", CPU: ptr(scenario.MustQuantity("1500m")),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := control.CreatePod(ctx, controlapi.PodRequest{Namespace: "default", Name: "e2e-future", Labels: map[string]string{"app": "e2e-future"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = control.DeletePod(ctx, "default", "e2e-future") })
	eventually(t, 30*time.Second, "new pod reported with the selector's CPU rate", func() (bool, string) {
		s, err := control.Sample(ctx, client.SampleQuery{Namespace: "default", Pod: "e2e-future", Container: "app"})
		if err != nil {
			return false, err.Error()
		}
		return s.CPUNanoCores == 1_500_000_000, fmt.Sprintf("%+v", s)
	})
	if err := control.DeletePod(ctx, "default", "e2e-future"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "deleted pod gone from the API", func() (bool, string) {
		out, err := kubectlErr("-n", "default", "get", "pod", "e2e-future")
		return err != nil && strings.Contains(out, "NotFound"), out
	})
}

func ptr[T any](v T) *T { return &v }
