package tests

// Swap through metrics-server. The default scenario (scenarios/default.yaml)
// turns swap on for node-1 and node-2 (status.nodeInfo.swap.capacity 4Gi,
// 256Mi swapped outside pods) and runs two swap-demo pods on node-1 (64Mi each,
// in container app); node-3 has no swap. Served usage.swap must equal what the
// kubelets reported, and kubectl 1.37 (e2e/bin/kubectl-1.37, built from
// e2e/clients) prints it with `top --show-swap`.

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"metrics-server-rs/e2e/internal/control/client"
)

// The default scenario's swap (scenarios/default.yaml).
var (
	scenarioSwapNodes    = []string{"node-1", "node-2"}
	scenarioSwapCapacity = resource.MustParse("4Gi")
	scenarioNodeBaseSwap = resource.MustParse("256Mi")
	// scenarioSwapPods run on node-1; container app swaps 64Mi, helper nothing.
	scenarioSwapPods    = []string{"default/swap-demo-1", "default/swap-demo-2"}
	scenarioSwapPodNode = "node-1"
	scenarioPodSwap     = map[string]string{"app": "64Mi", "helper": "0"}
)

// TestSomeNodesAndPodsUseSwap checks the sandbox itself: the swap nodes (and
// only they) report a swap capacity, the swap pods run where the swap is, and
// every node's swap is its base swap plus its containers' swap.
func TestSomeNodesAndPodsUseSwap(t *testing.T) {
	ctx := context.Background()
	nodes := apiNodes(t)
	if len(nodes) != testNodes {
		t.Fatalf("%d nodes, want %d", len(nodes), testNodes)
	}
	for _, name := range sortedKeys(nodes) {
		sw := nodes[name].Status.NodeInfo.Swap
		if slices.Contains(scenarioSwapNodes, name) {
			if sw == nil || sw.Capacity == nil || *sw.Capacity != scenarioSwapCapacity.Value() {
				t.Errorf("node %s: nodeInfo.swap %+v, want capacity %d", name, sw, scenarioSwapCapacity.Value())
			}
		} else if sw != nil {
			t.Errorf("node %s has no swap but nodeInfo.swap %+v", name, sw)
		}
	}
	eventually(t, 30*time.Second, "every node's swap is its base plus its containers'", func() (bool, string) {
		at := time.Now()
		pods := apiPods(t)
		perNode := map[string]uint64{}
		for _, key := range sortedKeys(pods) {
			p := pods[key]
			if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range expectationFor(p).containers {
				s, err := control.Sample(ctx, client.SampleQuery{Node: p.Spec.NodeName, Namespace: p.Namespace, Pod: p.Name, Container: c, At: at})
				if err != nil {
					return false, fmt.Sprintf("%s container %s: %v", key, c, err)
				}
				perNode[p.Spec.NodeName] += s.SwapBytes
				if slices.Contains(scenarioSwapPods, key) {
					if p.Spec.NodeName != scenarioSwapPodNode {
						t.Fatalf("%s runs on %s, not on %s", key, p.Spec.NodeName, scenarioSwapPodNode)
					}
					if want := scenarioPodSwap[c]; memoryQuantity(s.SwapBytes) != want {
						return false, fmt.Sprintf("%s container %s reports swap %s, the scenario gives it %s", key, c, memoryQuantity(s.SwapBytes), want)
					}
				}
			}
		}
		for _, key := range scenarioSwapPods {
			if p, ok := pods[key]; !ok || p.Status.Phase != corev1.PodRunning {
				return false, key + " is not Running"
			}
		}
		for _, name := range sortedKeys(nodes) {
			s, err := control.Sample(ctx, client.SampleQuery{Node: name, At: at})
			if err != nil {
				return false, fmt.Sprintf("node %s: %v", name, err)
			}
			want := perNode[name]
			if slices.Contains(scenarioSwapNodes, name) {
				want += uint64(scenarioNodeBaseSwap.Value())
			}
			if s.SwapBytes != want {
				return false, fmt.Sprintf("node %s reports swap %d, its base and containers make %d", name, s.SwapBytes, want)
			}
		}
		return true, ""
	})
}

// TestServedSwapEqualsWhatTheKubeletsReported reads swap nodes, the node
// without swap and the swap pods with `kubectl-1.37 get --raw` and recomputes
// every value (swap included) from the kubelets' samples.
func TestServedSwapEqualsWhatTheKubeletsReported(t *testing.T) {
	ctx := context.Background()
	raw := func(path string, into any) error {
		out, err := kubectl137(t, "get", "--raw", path)
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), into); err != nil {
			return fmt.Errorf("GET %s: %v\n%s", path, err, out)
		}
		return nil
	}
	// A served node's swap includes the pods on it when it was scraped; the
	// samples have the pods there now: take scrapes after the test started.
	settled := time.Now()
	for _, name := range sortedKeys(apiNodes(t)) {
		var nm nodeMetricsJSON
		eventually(t, 3*defaultResolution, "node "+name+" scraped after the test started", func() (bool, string) {
			nm = nodeMetricsJSON{}
			if err := raw(metricsAPI+"/nodes/"+name, &nm); err != nil {
				return false, err.Error()
			}
			return nm.Timestamp.After(settled), fmt.Sprintf("scraped at %s", nm.Timestamp)
		})
		if err := verifyNodeMetrics(ctx, nm); err != nil {
			t.Error(err)
		}
		swap, ok := nm.Usage["swap"]
		switch {
		case !ok:
			t.Errorf("node %s: no usage.swap in %v", name, nm.Usage)
		case slices.Contains(scenarioSwapNodes, name) && swap == "0":
			t.Errorf("node %s has swap in use (256Mi at least) but is served with swap 0", name)
		}
	}

	pods := apiPods(t)
	for _, key := range scenarioSwapPods {
		ns, name := splitKey(key)
		var pm podMetricsJSON
		eventually(t, 3*defaultResolution, key+" served", func() (bool, string) {
			pm = podMetricsJSON{}
			err := raw(metricsAPI+"/namespaces/"+ns+"/pods/"+name, &pm)
			return err == nil, fmt.Sprint(err)
		})
		checkPod(t, ctx, "GET", pm, pods, true)
		for _, c := range pm.Containers {
			if want := scenarioPodSwap[c.Name]; c.Usage["swap"] != want {
				t.Errorf("%s container %s: served swap %q, the scenario gives it %s", key, c.Name, c.Usage["swap"], want)
			}
		}
	}
}

// TestKubectlTopShowsSwap: `kubectl-1.37 top node|pod --show-swap` print
// exactly what metrics-server serves, read in the same scrape cycle, with
// kubectl's arithmetic (k8s.io/kubectl/pkg/metricsutil): SWAP(bytes) in Mi,
// rounded down; SWAP(%) of status.nodeInfo.swap.capacity, truncated; both
// `<unknown>` on a node without a swap capacity.
func TestKubectlTopShowsSwap(t *testing.T) {
	percent := regexp.MustCompile(`^[0-9]+%$`)
	mebibytes := regexp.MustCompile(`^[0-9]+Mi$`)

	t.Run("top node --show-swap", func(t *testing.T) {
		var got string
		eventually(t, 4*defaultResolution, "kubectl-1.37 top node --show-swap", func() (bool, string) {
			nodes := apiNodes(t)
			list, err := stableNodeList(t, func() error {
				var err error
				got, err = kubectl137(t, "top", "node", "--show-swap")
				return err
			})
			if err != nil {
				return false, err.Error()
			}
			rows := [][]string{{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)", "SWAP(bytes)", "SWAP(%)"}}
			for _, n := range list.Items {
				node, ok := nodes[n.Metadata.Name]
				if !ok {
					return false, "node " + n.Metadata.Name + " is served but not in the API"
				}
				alloc := node.Status.Allocatable
				cpu, memory, swap := usageQuantity(t, n.Usage, "cpu"), usageQuantity(t, n.Usage, "memory"), usageQuantity(t, n.Usage, "swap")
				row := []string{n.Metadata.Name, topCPU(cpu), topPercent(cpu, alloc[corev1.ResourceCPU]),
					topMemory(memory), topPercent(memory, alloc[corev1.ResourceMemory])}
				if sw := node.Status.NodeInfo.Swap; sw != nil && sw.Capacity != nil {
					row = append(row, topMemory(swap), topPercent(swap, *resource.NewQuantity(*sw.Capacity, resource.BinarySI)))
				} else {
					row = append(row, "<unknown>", "<unknown>")
				}
				rows = append(rows, row)
			}
			if len(list.Items) != len(nodes) {
				return false, fmt.Sprintf("%d nodes served, %d exist", len(list.Items), len(nodes))
			}
			want := table(rows, true)
			return got == want, fmt.Sprintf("kubectl-1.37 printed:\n%s\nthe served list says:\n%s", got, want)
		})
		// What that means for the scenario's nodes.
		cells := topCells(got)
		for _, name := range sortedKeys(apiNodes(t)) {
			row, ok := cells[name]
			if !ok || len(row) != 7 {
				t.Errorf("node %s: row %q", name, row)
				continue
			}
			swapBytes, swapPercent := row[5], row[6]
			if slices.Contains(scenarioSwapNodes, name) {
				if !mebibytes.MatchString(swapBytes) || swapBytes == "0Mi" || !percent.MatchString(swapPercent) {
					t.Errorf("node %s with swap: SWAP(bytes) %q SWAP(%%) %q, want a non-zero size and a percentage", name, swapBytes, swapPercent)
				}
			} else if swapBytes != "<unknown>" || swapPercent != "<unknown>" {
				t.Errorf("node %s without a swap capacity: SWAP(bytes) %q SWAP(%%) %q, want <unknown> for both", name, swapBytes, swapPercent)
			}
		}
	})

	t.Run("top pod -A --show-swap", func(t *testing.T) {
		var got string
		eventually(t, 4*defaultResolution, "kubectl-1.37 top pod -A --show-swap", func() (bool, string) {
			list, err := stablePodList(t, func() error {
				var err error
				got, err = kubectl137(t, "top", "pod", "-A", "--show-swap")
				return err
			})
			if err != nil {
				return false, err.Error()
			}
			items := slices.Clone(list.Items)
			sort.Slice(items, func(i, j int) bool {
				a, b := items[i].Metadata, items[j].Metadata
				return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
			})
			rows := [][]string{{"NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)", "SWAP(bytes)"}}
			for _, p := range items {
				var cpu, memory, swap resource.Quantity
				for _, c := range p.Containers {
					cpu.Add(usageQuantity(t, c.Usage, "cpu"))
					memory.Add(usageQuantity(t, c.Usage, "memory"))
					swap.Add(usageQuantity(t, c.Usage, "swap"))
				}
				rows = append(rows, []string{p.Metadata.Namespace, p.Metadata.Name, topCPU(cpu), topMemory(memory), topMemory(swap)})
			}
			want := table(rows, true)
			return got == want, fmt.Sprintf("kubectl-1.37 printed:\n%s\nthe served list says:\n%s", got, want)
		})
		// What that means for the scenario's swap pods (64Mi in app, none in helper).
		swapOf := map[string]string{}
		for _, r := range topRows(got)[1:] {
			if len(r) == 5 {
				swapOf[r[0]+"/"+r[1]] = r[4]
			}
		}
		for _, key := range scenarioSwapPods {
			if swapOf[key] != "64Mi" {
				t.Errorf("pod %s: SWAP(bytes) %q, want 64Mi", key, swapOf[key])
			}
		}
	})
}

// usageQuantity parses one served usage value (absent: zero, as kubectl reads it).
func usageQuantity(t *testing.T, usage map[string]string, name string) resource.Quantity {
	t.Helper()
	text, ok := usage[name]
	if !ok {
		return resource.Quantity{}
	}
	q, err := resource.ParseQuantity(text)
	if err != nil {
		t.Fatalf("usage %s %q: %v", name, text, err)
	}
	return q
}

// topRows splits kubectl top output into the cells of each line (header first).
func topRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// topCells keys the rows of kubectl top output by their first cell.
func topCells(out string) map[string][]string {
	cells := map[string][]string{}
	for _, r := range topRows(out) {
		if len(r) > 0 {
			cells[r[0]] = r
		}
	}
	return cells
}
