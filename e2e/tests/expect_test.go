package tests

// What metrics-server must serve, recomputed from exactly what the simulated
// kubelets reported (GET /v1/sample on the control endpoint) with upstream's
// arithmetic and the real Kubernetes quantity formatter.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/controlapi"
)

// defaultResolution is the default instance's --metric-resolution (manifests/components.yaml).
const defaultResolution = 15 * time.Second

// freshContainerMinAge is the youngest a container may be at its sample for
// metrics-server to serve it after one scrape (upstream's fresh-container shortcut).
const freshContainerMinAge = 10 * time.Second

// errAmbiguousWindow means the objects read do not pin down every container's
// window (reads straddled a scrape); reading again resolves it.
var errAmbiguousWindow = errors.New("the container windows cannot be determined from this read")

// cpuQuantity formats nanocores as metrics-server does (scale -9, DecimalSI).
func cpuQuantity(nanocores uint64) string {
	return resource.NewScaledQuantity(int64(nanocores), resource.Nano).String()
}

// memoryQuantity formats bytes as metrics-server does (BinarySI).
func memoryQuantity(bytes uint64) string {
	return resource.NewQuantity(int64(bytes), resource.BinarySI).String()
}

// counterNanos converts the CPU seconds a kubelet printed to the integer
// nanoseconds metrics-server keeps: uint64(float64 * 1e9), truncated.
func counterNanos(text string) (uint64, error) {
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("CPU text %q: %w", text, err)
	}
	return uint64(v * 1e9), nil
}

func memoryBytes(text string) (uint64, error) {
	return sampleBytes("memory", text)
}

// sampleBytes converts a memory or swap sample to the integer bytes
// metrics-server keeps: uint64(float64), truncated.
func sampleBytes(what, text string) (uint64, error) {
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("%s text %q: %w", what, text, err)
	}
	return uint64(v), nil
}

// kubeletSwap tells whether a node's simulated kubelet reports swap for the
// node and for its containers, to a metrics-server reading /metrics/resource
// and falling back to /stats/summary on 404 (the default source, "auto").
// Node swap always (node_swap_usage_bytes in every text format, node.swap in
// the summary); container swap unless the kubelet writes the ≤ 1.28 text (the
// OldFormat fault), which had none, and is read at all (a 404 sends the
// reader to the summary, which has it). It reads the faults as they are now:
// call it once they are set for the scrapes being checked.
func kubeletSwap(ctx context.Context, node string) (nodeSwap, containerSwap bool, err error) {
	faults, err := control.Faults(ctx)
	if err != nil {
		return false, false, fmt.Errorf("the kubelet faults: %w", err)
	}
	f := faults[node]
	return true, !f.OldFormat || f.NotFound, nil
}

// startNanos converts container_start_time_seconds to nanoseconds as metrics-server does.
func startNanos(text string) (int64, error) {
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("start time text %q: %w", text, err)
	}
	return int64(v * 1e9), nil
}

// cpuRate is upstream's rate: the counter delta over the window in float64
// seconds, truncated to whole nanocores.
func cpuRate(last, prev uint64, window time.Duration) uint64 {
	return uint64(float64(last-prev) / window.Seconds())
}

// sampleAt returns what the kubelet reported at exactly the tick at; a
// served timestamp that is not a tick is an error.
func sampleAt(ctx context.Context, q client.SampleQuery, at time.Time) (controlapi.SampleResponse, error) {
	q.AtMillis = at.UnixMilli()
	s, err := control.Sample(ctx, q)
	if err != nil {
		return s, fmt.Errorf("sample %+v: %w", q, err)
	}
	if s.TimestampMillis != q.AtMillis {
		return s, fmt.Errorf("%s/%s/%s %s: no kubelet tick at %s (the latest before it is %s)",
			q.Node, q.Pod, q.Container, q.Namespace, at.UTC().Format(time.RFC3339Nano), time.UnixMilli(s.TimestampMillis).UTC().Format(time.RFC3339Nano))
	}
	return s, nil
}

// expectedNodeUsage recomputes a node's usage for a served timestamp and window.
func expectedNodeUsage(ctx context.Context, node string, ts time.Time, window time.Duration) (map[string]string, error) {
	last, err := sampleAt(ctx, client.SampleQuery{Node: node}, ts)
	if err != nil {
		return nil, err
	}
	prev, err := sampleAt(ctx, client.SampleQuery{Node: node}, ts.Add(-window))
	if err != nil {
		return nil, err
	}
	withSwap, _, err := kubeletSwap(ctx, node)
	if err != nil {
		return nil, err
	}
	return usageFromSamples(last, prev.CPUText, window, withSwap)
}

// usageFromSamples is the usage metrics-server serves for a node or container
// whose kubelet reported last, and prevCPUText window before it (none: the
// fresh-container shortcut's zero). CPU is the rate over the window, memory
// the last working set and, when the kubelet reported swap for it (withSwap),
// swap the last swap usage, formatted as memory is.
func usageFromSamples(last controlapi.SampleResponse, prevCPUText string, window time.Duration, withSwap bool) (map[string]string, error) {
	c2, err := counterNanos(last.CPUText)
	if err != nil {
		return nil, err
	}
	var c1 uint64
	if prevCPUText != "" {
		if c1, err = counterNanos(prevCPUText); err != nil {
			return nil, err
		}
	}
	if c2 < c1 {
		return nil, fmt.Errorf("the CPU counter decreased (%d < %d): metrics-server must not serve this", c2, c1)
	}
	mem, err := memoryBytes(last.MemoryText)
	if err != nil {
		return nil, err
	}
	usage := map[string]string{"cpu": cpuQuantity(cpuRate(c2, c1, window)), "memory": memoryQuantity(mem)}
	if withSwap {
		swap, err := sampleBytes("swap", last.SwapText)
		if err != nil {
			return nil, err
		}
		usage["swap"] = memoryQuantity(swap)
	}
	return usage, nil
}

// verifyNodeMetrics checks one served NodeMetrics against the kubelet's samples.
func verifyNodeMetrics(ctx context.Context, nm nodeMetricsJSON) error {
	window, err := time.ParseDuration(nm.Window)
	if err != nil || window <= 0 {
		return fmt.Errorf("node %s: window %q: %v", nm.Metadata.Name, nm.Window, err)
	}
	want, err := expectedNodeUsage(ctx, nm.Metadata.Name, nm.Timestamp, window)
	if err != nil {
		return fmt.Errorf("node %s: %w", nm.Metadata.Name, err)
	}
	if !maps2Equal(nm.Usage, want) {
		return fmt.Errorf("node %s at %s over %s: served %v, the kubelet's samples give %v",
			nm.Metadata.Name, nm.Timestamp.Format(time.RFC3339), nm.Window, nm.Usage, want)
	}
	return nil
}

// podExpectation is what the API says about a pod that metrics must agree with.
type podExpectation struct {
	node       string
	labels     map[string]string
	containers []string // regular containers and sidecars (restartable init containers), sorted
}

func expectationFor(pod *corev1.Pod) podExpectation {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			names = append(names, c.Name)
		}
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return podExpectation{node: pod.Spec.NodeName, labels: pod.Labels, containers: names}
}

// verifyPodMetrics checks one served PodMetrics against the kubelet's samples:
// the container set, each container's usage over its own window (its age when
// the fresh-container shortcut applies, else the time since the previous
// scrape), and that the pod's timestamp and window are those of a container.
// nodeWindow gives the node's window when the pod's window does not tell the
// previous scrape's time (ok=false: the read straddled a scrape).
func verifyPodMetrics(ctx context.Context, pm podMetricsJSON, want podExpectation, resolution time.Duration,
	nodeWindow func(ts time.Time) (time.Duration, bool)) error {
	id := pm.Metadata.Namespace + "/" + pm.Metadata.Name
	podWindow, err := time.ParseDuration(pm.Window)
	if err != nil || podWindow <= 0 {
		return fmt.Errorf("pod %s: window %q: %v", id, pm.Window, err)
	}
	var served []string
	for _, c := range pm.Containers {
		served = append(served, c.Name)
	}
	sort.Strings(served)
	if !slices.Equal(served, want.containers) {
		return fmt.Errorf("pod %s: containers %v, want %v (regular containers and sidecars)", id, served, want.containers)
	}
	ts := pm.Timestamp
	_, containerSwap, err := kubeletSwap(ctx, want.node)
	if err != nil {
		return fmt.Errorf("pod %s: %w", id, err)
	}
	type containerSample struct {
		last  controlapi.SampleResponse
		fresh bool
		age   time.Duration
	}
	samples := map[string]containerSample{}
	freshWindows := map[time.Duration]bool{}
	freshCount := 0
	for _, c := range pm.Containers {
		last, err := sampleAt(ctx, client.SampleQuery{Node: want.node, Namespace: pm.Metadata.Namespace, Pod: pm.Metadata.Name, Container: c.Name}, ts)
		if err != nil {
			return fmt.Errorf("pod %s: %w", id, err)
		}
		start, err := startNanos(last.StartTimeText)
		if err != nil {
			return fmt.Errorf("pod %s container %s: %w", id, c.Name, err)
		}
		age := time.Duration(ts.UnixNano() - start)
		fresh := age > 0 && age >= freshContainerMinAge && age < resolution
		samples[c.Name] = containerSample{last: last, fresh: fresh, age: age}
		if fresh {
			freshCount++
			freshWindows[age] = true
		}
	}
	// Containers with history share the previous scrape: the pod's window,
	// unless that window is a fresh container's age, then the node's.
	normalWindow := podWindow
	if freshWindows[podWindow] && freshCount < len(pm.Containers) {
		w, ok := nodeWindow(ts)
		if !ok {
			return errAmbiguousWindow
		}
		normalWindow = w
	}
	var problems []string
	windows := map[time.Duration]bool{}
	for _, c := range pm.Containers {
		s := samples[c.Name]
		window, prevCPUText := normalWindow, ""
		if s.fresh {
			window = s.age
		} else {
			prev, err := sampleAt(ctx, client.SampleQuery{Node: want.node, Namespace: pm.Metadata.Namespace, Pod: pm.Metadata.Name, Container: c.Name}, ts.Add(-window))
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if !prev.StartTime.Equal(s.last.StartTime) {
				problems = append(problems, fmt.Sprintf("container %s: the window %s spans a restart (start %s, then %s)", c.Name, window, prev.StartTime, s.last.StartTime))
				continue
			}
			prevCPUText = prev.CPUText
		}
		windows[window] = true
		wantUsage, err := usageFromSamples(s.last, prevCPUText, window, containerSwap)
		if err != nil {
			problems = append(problems, fmt.Sprintf("container %s: %v", c.Name, err))
			continue
		}
		if !maps2Equal(c.Usage, wantUsage) {
			problems = append(problems, fmt.Sprintf("container %s (window %s, fresh %v): served %v, the kubelet's samples give %v",
				c.Name, window, s.fresh, c.Usage, wantUsage))
		}
	}
	if !windows[podWindow] && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("window %s is none of its containers' windows %v", pm.Window, sortedDurations(windows)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("pod %s at %s over %s: %s", id, ts.Format(time.RFC3339), pm.Window, strings.Join(problems, "; "))
	}
	return nil
}

func sortedDurations(m map[time.Duration]bool) []string {
	var out []string
	for d := range m {
		out = append(out, d.String())
	}
	sort.Strings(out)
	return out
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// apiNodeWindow reads a node's NodeMetrics through the aggregator; ok only if
// it is from the scrape that produced ts.
func apiNodeWindow(t *testing.T, node string) func(ts time.Time) (time.Duration, bool) {
	return func(ts time.Time) (time.Duration, bool) {
		r := apiGet(t, metricsAPI+"/nodes/"+node, adminIdentity(t))
		if r.status != http.StatusOK {
			return 0, false
		}
		var nm nodeMetricsJSON
		if err := json.Unmarshal(r.body, &nm); err != nil || !nm.Timestamp.Equal(ts) {
			return 0, false
		}
		w, err := time.ParseDuration(nm.Window)
		return w, err == nil
	}
}

// ---- the API objects metrics must agree with ----

func apiPods(t *testing.T) map[string]*corev1.Pod {
	t.Helper()
	var list corev1.PodList
	mustJSON(t, "/api/v1/pods", apiGet(t, "/api/v1/pods", adminIdentity(t)), &list)
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		out[p.Namespace+"/"+p.Name] = p
	}
	return out
}

func apiNodes(t *testing.T) map[string]*corev1.Node {
	t.Helper()
	var list corev1.NodeList
	mustJSON(t, "/api/v1/nodes", apiGet(t, "/api/v1/nodes", adminIdentity(t)), &list)
	out := map[string]*corev1.Node{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// servablePods are the pods every list must hold once history exists:
// Running, not being deleted, and started long enough ago for two scrapes.
func servablePods(pods map[string]*corev1.Pod, olderThan time.Duration) []string {
	var out []string
	for key, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || p.Status.StartTime == nil ||
			time.Since(p.Status.StartTime.Time) < olderThan {
			continue
		}
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}
