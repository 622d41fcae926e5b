package tests

// kubectl top and kubectl get against metrics-server, with the installed
// kubectl (1.32) and Debian's kubernetes-client (1.20): printed values are
// compared with what the scenario's usage implies, and headers per version.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"metrics-server-rs/e2e/internal/control/client"
)

// The default scenario's node base load (scenarios/default.yaml, baseUsage):
// a node's usage is this plus everything running on it.
var (
	nodeBaseCPU    = resource.MustParse("150m")
	nodeBaseMemory = resource.MustParse("1Gi")
)

// kubectlBinary is one kubectl the output is checked with.
type kubectlBinary struct {
	name string
	path string
	// minor is the client's minor version: up to 1.31 `kubectl top node`
	// heads its percentages CPU% and MEMORY%, from 1.32 CPU(%) and MEMORY(%).
	minor int
	// kubeconfig defaults to the sandbox admin's.
	kubeconfig string
}

func (k kubectlBinary) run(args ...string) (stdout, stderr string, err error) {
	kubeconfig := k.kubeconfig
	if kubeconfig == "" {
		kubeconfig = env["KUBECONFIG"]
	}
	cmd := exec.Command(k.path, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func clientMinor(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command(path, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version: %v", path, err)
	}
	var v struct {
		ClientVersion struct {
			Major, Minor string
		} `json:"clientVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s version: %v\n%s", path, err, out)
	}
	var minor int
	if _, err := fmt.Sscanf(strings.TrimSuffix(v.ClientVersion.Minor, "+"), "%d", &minor); err != nil || v.ClientVersion.Major != "1" {
		t.Fatalf("%s version %s.%s", path, v.ClientVersion.Major, v.ClientVersion.Minor)
	}
	return minor
}

var (
	debianKubectlOnce sync.Once
	debianKubectlPath string
	debianKubectlErr  error
)

// debianKubectl fetches Debian's kubernetes-client package (kubectl 1.20) with
// `apt-get download` and unpacks it into e2e/.run/tools; it is not installed,
// as it would clash with the kubectl on the PATH. Later calls reuse it.
func debianKubectl() (string, error) {
	debianKubectlOnce.Do(func() {
		tools := filepath.Join(e2eDir, ".run", "tools")
		dir := filepath.Join(tools, "kubernetes-client")
		bin := filepath.Join(dir, "usr", "bin", "kubectl")
		if _, err := os.Stat(bin); err == nil {
			debianKubectlPath = bin
			return
		}
		if err := os.MkdirAll(tools, 0o755); err != nil {
			debianKubectlErr = err
			return
		}
		tmp, err := os.MkdirTemp(tools, "download-")
		if err != nil {
			debianKubectlErr = err
			return
		}
		defer os.RemoveAll(tmp)
		download := func() ([]byte, error) {
			cmd := exec.Command("apt-get", "download", "kubernetes-client")
			cmd.Dir = tmp
			return cmd.CombinedOutput()
		}
		out, err := download()
		if err != nil && os.Geteuid() == 0 {
			// A machine whose package lists were never fetched knows no
			// such package yet.
			if upd, uerr := exec.Command("apt-get", "update").CombinedOutput(); uerr != nil {
				out = append(out, upd...)
			} else {
				out, err = download()
			}
		}
		if err != nil {
			debianKubectlErr = fmt.Errorf("apt-get download kubernetes-client: %v\n%s", err, out)
			return
		}
		debs, _ := filepath.Glob(filepath.Join(tmp, "kubernetes-client_*.deb"))
		if len(debs) != 1 {
			debianKubectlErr = fmt.Errorf("apt-get download kubernetes-client left %v", debs)
			return
		}
		unpacked := filepath.Join(tmp, "root")
		if out, err := exec.Command("dpkg-deb", "-x", debs[0], unpacked).CombinedOutput(); err != nil {
			debianKubectlErr = fmt.Errorf("dpkg-deb -x %s: %v\n%s", debs[0], err, out)
			return
		}
		if err := os.Rename(unpacked, dir); err != nil {
			debianKubectlErr = err
			return
		}
		debianKubectlPath = bin
	})
	return debianKubectlPath, debianKubectlErr
}

// kubectlBinaries are the installed kubectl and, when it can be fetched, Debian's 1.20.
func kubectlBinaries(t *testing.T) []kubectlBinary {
	t.Helper()
	installed, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not on the PATH")
	}
	out := []kubectlBinary{{name: "installed", path: installed, minor: clientMinor(t, installed)}}
	if path, err := debianKubectl(); err != nil {
		t.Logf("SKIPPING kubectl 1.20 (Debian's kubernetes-client could not be fetched): %v", err)
	} else {
		out = append(out, kubectlBinary{name: "debian-1.20", path: path, minor: clientMinor(t, path)})
	}
	return out
}

// table renders rows as kubectl does (cli-runtime's tabwriter: minwidth 6,
// tabwidth 4, padding 3). `kubectl top` ends every cell with a tab, so its
// lines have trailing spaces; `kubectl get` does not.
func table(rows [][]string, tabTerminated bool) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 6, 4, 3, ' ', 0)
	for _, r := range rows {
		line := strings.Join(r, "\t")
		if tabTerminated {
			line += "\t"
		}
		fmt.Fprintln(w, line)
	}
	_ = w.Flush()
	return b.String()
}

// scenarioUsage is the usage the simulation applies right now.
type scenarioUsage struct {
	nodes map[string]resourceUsage
	// pods by namespace/name, containers by name.
	pods map[string]map[string]resourceUsage
	// podNamespaces and podNames keep the API's view for building rows.
	api map[string]*corev1.Pod
}

type resourceUsage struct {
	cpu    resource.Quantity // nanocores
	memory resource.Quantity // bytes
}

// currentScenarioUsage reads the rates and working sets of every running
// container and node, and checks that each node's usage is its base load plus
// its pods.
func currentScenarioUsage(t *testing.T) (scenarioUsage, error) {
	t.Helper()
	ctx := context.Background()
	u := scenarioUsage{nodes: map[string]resourceUsage{}, pods: map[string]map[string]resourceUsage{}, api: map[string]*corev1.Pod{}}
	perNode := map[string]resourceUsage{}
	for key, pod := range apiPods(t) {
		if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
			continue
		}
		u.api[key] = pod
		containers := map[string]resourceUsage{}
		for _, c := range expectationFor(pod).containers {
			s, err := control.Sample(ctx, client.SampleQuery{Node: pod.Spec.NodeName, Namespace: pod.Namespace, Pod: pod.Name, Container: c})
			if err != nil {
				return u, fmt.Errorf("%s/%s: %w", key, c, err)
			}
			r := resourceUsage{cpu: *resource.NewScaledQuantity(int64(s.CPUNanoCores), resource.Nano), memory: *resource.NewQuantity(int64(s.WorkingSetBytes), resource.BinarySI)}
			containers[c] = r
			sum := perNode[pod.Spec.NodeName]
			sum.cpu.Add(r.cpu)
			sum.memory.Add(r.memory)
			perNode[pod.Spec.NodeName] = sum
		}
		u.pods[key] = containers
	}
	for name := range apiNodes(t) {
		s, err := control.Sample(ctx, client.SampleQuery{Node: name})
		if err != nil {
			return u, fmt.Errorf("node %s: %w", name, err)
		}
		r := resourceUsage{cpu: *resource.NewScaledQuantity(int64(s.CPUNanoCores), resource.Nano), memory: *resource.NewQuantity(int64(s.WorkingSetBytes), resource.BinarySI)}
		want := perNode[name]
		want.cpu.Add(nodeBaseCPU)
		want.memory.Add(nodeBaseMemory)
		if r.cpu.Cmp(want.cpu) != 0 || r.memory.Cmp(want.memory) != 0 {
			return u, fmt.Errorf("node %s reports cpu %s memory %s, but base + pods is %s, %s", name, &r.cpu, &r.memory, &want.cpu, &want.memory)
		}
		u.nodes[name] = r
	}
	return u, nil
}

// The cells kubectl top prints (kubectl's metricsutil): CPU as MilliValue
// (rounded up) in m, memory as Value/Mi (rounded down), percentages truncated.
func topCPU(q resource.Quantity) string    { return fmt.Sprintf("%dm", q.MilliValue()) }
func topMemory(q resource.Quantity) string { return fmt.Sprintf("%dMi", q.Value()/(1024*1024)) }
func topPercent(q, allocatable resource.Quantity) string {
	if allocatable.MilliValue() == 0 {
		return "0%"
	}
	return fmt.Sprintf("%d%%", int64(float64(q.MilliValue())/float64(allocatable.MilliValue())*100))
}

func (u scenarioUsage) podTotal(key string) resourceUsage {
	var sum resourceUsage
	for _, c := range sortedKeys(u.pods[key]) {
		sum.cpu.Add(u.pods[key][c].cpu)
		sum.memory.Add(u.pods[key][c].memory)
	}
	return sum
}

// podKeys lists pods (namespace/name) in the order metrics-server and kubectl
// sort them, optionally only one namespace or those matching a label.
func (u scenarioUsage) podKeys(namespace, label, value string) []string {
	var keys []string
	for key, pod := range u.api {
		if (namespace == "" || pod.Namespace == namespace) && (label == "" || pod.Labels[label] == value) {
			keys = append(keys, key)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := u.api[keys[i]], u.api[keys[j]]
		return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
	})
	return keys
}

func TestKubectlTopAndGetShowTheScenarioUsage(t *testing.T) {
	nodes := apiNodes(t)
	for _, k := range kubectlBinaries(t) {
		t.Run(k.name, func(t *testing.T) {
			cpuPct, memPct := "CPU(%)", "MEMORY(%)"
			if k.minor < 32 {
				cpuPct, memPct = "CPU%", "MEMORY%"
			}
			topCases := []struct {
				name string
				args []string
				want func(u scenarioUsage) string
			}{
				{"top node", []string{"top", "node"}, func(u scenarioUsage) string {
					rows := [][]string{{"NAME", "CPU(cores)", cpuPct, "MEMORY(bytes)", memPct}}
					for _, name := range sortedKeys(u.nodes) {
						r, alloc := u.nodes[name], nodes[name].Status.Allocatable
						rows = append(rows, []string{name, topCPU(r.cpu), topPercent(r.cpu, alloc[corev1.ResourceCPU]),
							topMemory(r.memory), topPercent(r.memory, alloc[corev1.ResourceMemory])})
					}
					return table(rows, true)
				}},
				{"top pod -A", []string{"top", "pod", "-A"}, func(u scenarioUsage) string {
					rows := [][]string{{"NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"}}
					for _, key := range u.podKeys("", "", "") {
						p, sum := u.api[key], u.podTotal(key)
						rows = append(rows, []string{p.Namespace, p.Name, topCPU(sum.cpu), topMemory(sum.memory)})
					}
					return table(rows, true)
				}},
				{"top pod --containers -n default", []string{"top", "pod", "--containers", "-n", "default"}, func(u scenarioUsage) string {
					rows := [][]string{{"POD", "NAME", "CPU(cores)", "MEMORY(bytes)"}}
					for _, key := range u.podKeys("default", "", "") {
						for _, c := range sortedKeys(u.pods[key]) {
							r := u.pods[key][c]
							rows = append(rows, []string{u.api[key].Name, c, topCPU(r.cpu), topMemory(r.memory)})
						}
					}
					return table(rows, true)
				}},
				{"top pod -l app=hpa-demo", []string{"top", "pod", "-l", "app=hpa-demo"}, func(u scenarioUsage) string {
					rows := [][]string{{"NAME", "CPU(cores)", "MEMORY(bytes)"}}
					for _, key := range u.podKeys("default", "app", "hpa-demo") {
						sum := u.podTotal(key)
						rows = append(rows, []string{u.api[key].Name, topCPU(sum.cpu), topMemory(sum.memory)})
					}
					return table(rows, true)
				}},
			}
			for _, tc := range topCases {
				t.Run(tc.name, func(t *testing.T) {
					// Values settle within two scrapes of the last usage change.
					eventually(t, 4*defaultResolution, "kubectl "+strings.Join(tc.args, " "), func() (bool, string) {
						u, err := currentScenarioUsage(t)
						if err != nil {
							return false, err.Error()
						}
						want := tc.want(u)
						got, stderr, err := k.run(tc.args...)
						if err != nil {
							return false, fmt.Sprintf("%v: %s%s", err, got, stderr)
						}
						return got == want, fmt.Sprintf("kubectl printed:\n%s\nthe scenario's usage implies:\n%s", got, want)
					})
				})
			}

			t.Run("get nodes.metrics.k8s.io", func(t *testing.T) {
				eventually(t, 4*defaultResolution, "kubectl get nodes.metrics.k8s.io", func() (bool, string) {
					var got string
					list, err := stableNodeList(t, func() error {
						var stderr string
						var err error
						got, stderr, err = k.run("get", "nodes.metrics.k8s.io")
						if err != nil {
							return fmt.Errorf("%v: %s%s", err, got, stderr)
						}
						return nil
					})
					if err != nil {
						return false, err.Error()
					}
					rows := [][]string{{"NAME", "CPU", "MEMORY", "WINDOW"}}
					for _, n := range list.Items {
						rows = append(rows, []string{n.Metadata.Name, n.Usage["cpu"], n.Usage["memory"], n.Window})
					}
					want := table(rows, false)
					return got == want, fmt.Sprintf("kubectl printed:\n%s\nthe served list says:\n%s", got, want)
				})
			})

			t.Run("get pods.metrics.k8s.io -A", func(t *testing.T) {
				eventually(t, 4*defaultResolution, "kubectl get pods.metrics.k8s.io -A", func() (bool, string) {
					var got string
					list, err := stablePodList(t, func() error {
						var stderr string
						var err error
						got, stderr, err = k.run("get", "pods.metrics.k8s.io", "-A")
						if err != nil {
							return fmt.Errorf("%v: %s%s", err, got, stderr)
						}
						return nil
					})
					if err != nil {
						return false, err.Error()
					}
					rows := [][]string{{"NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"}}
					for _, p := range list.Items {
						cpu, memory := summedUsage(t, p)
						rows = append(rows, []string{p.Metadata.Namespace, p.Metadata.Name, cpu, memory, p.Window})
					}
					want := table(rows, false)
					return got == want, fmt.Sprintf("kubectl printed:\n%s\nthe served list says:\n%s", got, want)
				})
			})
		})
	}
}

// summedUsage adds a pod's container quantities as a server-side Table does.
func summedUsage(t *testing.T, p podMetricsJSON) (string, string) {
	t.Helper()
	var cpu, memory *resource.Quantity
	for _, c := range p.Containers {
		for name, total := range map[string]**resource.Quantity{"cpu": &cpu, "memory": &memory} {
			q, err := resource.ParseQuantity(c.Usage[name])
			if err != nil {
				t.Fatalf("pod %s container %s %s %q: %v", p.Metadata.Name, c.Name, name, c.Usage[name], err)
			}
			if *total == nil {
				*total = &q
			} else {
				(*total).Add(q)
			}
		}
	}
	if cpu == nil {
		return "", ""
	}
	return cpu.String(), memory.String()
}

var errStoreChanged = errors.New("a scrape was stored while reading; reading again")

// stableNodeList runs read between two identical reads of the node list, so
// what read saw is that list.
func stableNodeList(t *testing.T, read func() error) (nodeMetricsListJSON, error) {
	t.Helper()
	before := nodeMetricsList(t, metricsAPI+"/nodes")
	if err := read(); err != nil {
		return before, err
	}
	after := nodeMetricsList(t, metricsAPI+"/nodes")
	if fingerprint(before.Items) != fingerprint(after.Items) {
		return after, errStoreChanged
	}
	return after, nil
}

func stablePodList(t *testing.T, read func() error) (podMetricsListJSON, error) {
	t.Helper()
	before := podMetricsList(t, metricsAPI+"/pods")
	if err := read(); err != nil {
		return before, err
	}
	after := podMetricsList(t, metricsAPI+"/pods")
	if fingerprint(before.Items) != fingerprint(after.Items) {
		return after, errStoreChanged
	}
	return after, nil
}

// fingerprint is the served content without creationTimestamp (request time).
func fingerprint[T nodeMetricsJSON | podMetricsJSON](items []T) string {
	var b strings.Builder
	for _, item := range items {
		switch v := any(item).(type) {
		case nodeMetricsJSON:
			fmt.Fprintf(&b, "%s %s %s %v;", v.Metadata.Name, v.Timestamp.Format(time.RFC3339), v.Window, v.Usage)
		case podMetricsJSON:
			// Container order carries no meaning (upstream's is random).
			containers := make([]string, 0, len(v.Containers))
			for _, c := range v.Containers {
				containers = append(containers, fmt.Sprintf("%s=%v", c.Name, c.Usage))
			}
			sort.Strings(containers)
			fmt.Fprintf(&b, "%s/%s %s %s %v;", v.Metadata.Namespace, v.Metadata.Name, v.Timestamp.Format(time.RFC3339), v.Window, containers)
		}
	}
	return b.String()
}
