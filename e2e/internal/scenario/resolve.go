package scenario

import (
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"metrics-server-rs/e2e/internal/sim"
)

// Defaults used when a scenario leaves a field out.
const (
	DefaultNodePrefix                 = "node-"
	DefaultSamplePeriod               = time.Second
	DefaultUptime                     = time.Hour
	DefaultHPASyncPeriod              = 5 * time.Second
	DefaultHPADownscaleStabilization  = 15 * time.Second
	DefaultHPACPUInitializationPeriod = 5 * time.Minute
	DefaultHPAInitialReadinessDelay   = 30 * time.Second
	DefaultFillerPrefix               = "filler"
	DefaultImage                      = "registry.k8s.io/pause:3.10"
	// MaxNodes bounds the kubelet address plan (two address bytes per node).
	MaxNodes = 254 * 256
)

// Load reads a YAML or JSON scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse decodes YAML or JSON, rejecting unknown fields so typos surface.
func Parse(data []byte) (*Scenario, error) {
	var s Scenario
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return &s, nil
}

// Default is the scenario of `up --nodes N --pods-per-node M`: N nodes (the
// first two with swap), M filler pods per node over a few namespaces, a small
// Deployment for HPA tests and two pods using swap on the first node.
func Default(nodes, podsPerNode int) *Scenario {
	s := &Scenario{
		Name: "default",
		Nodes: []NodeGroup{{NamePrefix: DefaultNodePrefix, Count: nodes, Swap: &NodeSwap{
			Count: 2, Capacity: ptr(MustQuantity("4Gi")), BaseUsage: ptr(MustQuantity("256Mi")),
		}}},
		Deployments: []Deployment{{
			Name:      "hpa-demo",
			Namespace: "default",
			Replicas:  1,
			Labels:    map[string]string{"app": "hpa-demo"},
			Containers: []Container{{
				Name:     "app",
				Requests: ResourceList{"cpu": MustQuantity("200m"), "memory": MustQuantity("64Mi")},
				Limits:   ResourceList{"cpu": MustQuantity("1"), "memory": MustQuantity("256Mi")},
				Usage:    UsageSpec{CPU: ptr(MustQuantity("50m")), Memory: ptr(MustQuantity("40Mi"))},
			}},
		}},
	}
	if podsPerNode > 0 {
		s.Pods = []PodSet{{NamePrefix: DefaultFillerPrefix, PerNode: podsPerNode, Namespaces: []string{"default", "team-a", "team-b"}}}
	}
	s.Pods = append(s.Pods, PodSet{
		NamePrefix: "swap-demo", Count: 2, Node: DefaultNodePrefix + "1", Namespace: "default",
		Labels: map[string]string{"app": "swap-demo"},
		Containers: []Container{
			{
				Name:     "app",
				Requests: ResourceList{"cpu": MustQuantity("100m"), "memory": MustQuantity("128Mi")},
				Usage:    UsageSpec{CPU: ptr(MustQuantity("30m")), Memory: ptr(MustQuantity("96Mi")), Swap: ptr(MustQuantity("64Mi"))},
			},
			{Name: "helper", Usage: UsageSpec{CPU: ptr(MustQuantity("5m")), Memory: ptr(MustQuantity("24Mi"))}},
		},
	})
	return s
}

// ApplyOverrides applies `--nodes` and `--pods-per-node` (negative: unset).
func (s *Scenario) ApplyOverrides(nodes, podsPerNode int) {
	if nodes >= 0 {
		applied := false
		for i := range s.Nodes {
			if s.Nodes[i].Name == "" {
				s.Nodes[i].Count = nodes
				applied = true
				break
			}
		}
		if !applied {
			s.Nodes = append(s.Nodes, NodeGroup{NamePrefix: DefaultNodePrefix, Count: nodes})
		}
	}
	if podsPerNode >= 0 {
		for i := range s.Pods {
			if s.Pods[i].PerNode > 0 || (s.Pods[i].Name == "" && s.Pods[i].Count == 0) {
				s.Pods[i].PerNode = podsPerNode
				return
			}
		}
		if podsPerNode > 0 {
			s.Pods = append(s.Pods, PodSet{NamePrefix: DefaultFillerPrefix, PerNode: podsPerNode, Namespaces: []string{"default", "team-a", "team-b"}})
		}
	}
}

// PodsPerNode is the filler density (the largest PerNode of any set).
func (s *Scenario) PodsPerNode() int {
	n := 0
	for _, p := range s.Pods {
		n = max(n, p.PerNode)
	}
	return n
}

// Resolved is a scenario expanded into concrete objects.
type Resolved struct {
	Name        string
	Nodes       []Node
	Namespaces  []string
	Deployments []Deployment
	Pods        []Pod
	// ExpectedPods counts plain pods plus Deployment replicas: `up` waits
	// until that many are Running.
	ExpectedPods      int
	ControllerManager ControllerManager
	APIServer         APIServer
}

// Node is one concrete node.
type Node struct {
	Name        string
	Index       int
	Labels      map[string]string
	Capacity    ResourceList
	Allocatable ResourceList
	Base        sim.Usage
	// SwapCapacityBytes is the node's swap space; 0: swap is off, and the
	// Node has no status.nodeInfo.swap (as a kubelet leaves it out).
	SwapCapacityBytes uint64
	SamplePeriod      time.Duration
	SamplePhase       time.Duration
	Uptime            time.Duration
}

// Pod is one concrete plain pod (Node empty: placed by the workload agent).
type Pod struct {
	Namespace      string
	Name           string
	Node           string
	Labels         map[string]string
	Containers     []Container
	InitContainers []Container
}

// Resolve validates the scenario and expands groups and sets.
func (s *Scenario) Resolve() (*Resolved, error) {
	r := &Resolved{Name: s.Name, ControllerManager: s.ControllerManager, APIServer: s.APIServer}
	if r.Name == "" {
		r.Name = "custom"
	}
	if err := r.resolveNodes(s.Nodes); err != nil {
		return nil, err
	}
	nodeNames := make(map[string]bool, len(r.Nodes))
	for _, n := range r.Nodes {
		nodeNames[n.Name] = true
	}
	namespaces := map[string]bool{}
	for _, ns := range s.Namespaces {
		namespaces[ns] = true
	}
	for _, d := range s.Deployments {
		if d.Namespace == "" {
			d.Namespace = "default"
		}
		if err := validateName("deployment", d.Name); err != nil {
			return nil, err
		}
		if len(d.Containers) == 0 {
			return nil, fmt.Errorf("deployment %s: no containers", d.Name)
		}
		if len(d.Labels) == 0 {
			d.Labels = map[string]string{"app": d.Name}
		}
		if err := validateContainers(d.Name, d.Containers, d.InitContainers); err != nil {
			return nil, err
		}
		namespaces[d.Namespace] = true
		r.Deployments = append(r.Deployments, d)
		r.ExpectedPods += int(d.Replicas)
	}
	for i, set := range s.Pods {
		pods, err := expandPodSet(i, set, r.Nodes, nodeNames)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			namespaces[p.Namespace] = true
		}
		r.Pods = append(r.Pods, pods...)
	}
	r.ExpectedPods += len(r.Pods)
	seen := make(map[string]bool, len(r.Pods))
	for _, p := range r.Pods {
		key := p.Namespace + "/" + p.Name
		if seen[key] {
			return nil, fmt.Errorf("pod %s defined twice", key)
		}
		seen[key] = true
	}
	for ns := range namespaces {
		if err := validateName("namespace", ns); err != nil {
			return nil, err
		}
		r.Namespaces = append(r.Namespaces, ns)
	}
	sort.Strings(r.Namespaces)
	r.ControllerManager = withControllerDefaults(r.ControllerManager)
	return r, nil
}

func withControllerDefaults(c ControllerManager) ControllerManager {
	if c.HPASyncPeriod.IsZero() {
		c.HPASyncPeriod.Duration = DefaultHPASyncPeriod
	}
	if c.HPADownscaleStabilization.IsZero() {
		c.HPADownscaleStabilization.Duration = DefaultHPADownscaleStabilization
	}
	if c.HPACPUInitializationPeriod.IsZero() {
		c.HPACPUInitializationPeriod.Duration = DefaultHPACPUInitializationPeriod
	}
	if c.HPAInitialReadinessDelay.IsZero() {
		c.HPAInitialReadinessDelay.Duration = DefaultHPAInitialReadinessDelay
	}
	return c
}

func (r *Resolved) resolveNodes(groups []NodeGroup) error {
	seen := map[string]bool{}
	for _, g := range groups {
		names := []string{g.Name}
		if g.Name == "" {
			prefix := g.NamePrefix
			if prefix == "" {
				prefix = DefaultNodePrefix
			}
			names = names[:0]
			for i := 1; i <= g.Count; i++ {
				names = append(names, fmt.Sprintf("%s%d", prefix, i))
			}
		}
		period := g.SamplePeriod.Duration
		if period <= 0 {
			period = DefaultSamplePeriod
		}
		uptime := g.Uptime.Duration
		if uptime <= 0 {
			uptime = DefaultUptime
		}
		capacity := mergeResources(ResourceList{
			"cpu": MustQuantity("4"), "memory": MustQuantity("16Gi"), "pods": MustQuantity("110"),
			"ephemeral-storage": MustQuantity("100Gi"),
		}, g.Capacity)
		allocatable := mergeResources(capacity, g.Allocatable)
		base := sim.Usage{CPUNanoCores: 150_000_000, WorkingSetBytes: 1 << 30}
		if g.BaseUsage.CPU != nil {
			base.CPUNanoCores = g.BaseUsage.CPU.NanoCores()
		}
		if g.BaseUsage.Memory != nil {
			base.WorkingSetBytes = g.BaseUsage.Memory.Bytes()
		}
		if g.BaseUsage.Swap != nil {
			base.SwapBytes = g.BaseUsage.Swap.Bytes()
		}
		swapNodes, swapCapacity, swapBase, err := resolveSwap(g, len(names))
		if err != nil {
			return err
		}
		for i, name := range names {
			if err := validateName("node", name); err != nil {
				return err
			}
			if seen[name] {
				return fmt.Errorf("node %s defined twice", name)
			}
			seen[name] = true
			phase := g.SamplePhase.Duration
			if g.SpreadPhases && len(names) > 0 {
				phase = time.Duration(int64(period) * int64(i) / int64(len(names)))
			}
			node := Node{
				Name: name, Index: len(r.Nodes), Labels: g.Labels,
				Capacity: capacity, Allocatable: allocatable, Base: base,
				SamplePeriod: period, SamplePhase: phase, Uptime: uptime,
			}
			if g.Swap != nil {
				node.Base.SwapBytes = 0
				if i < swapNodes {
					node.SwapCapacityBytes, node.Base.SwapBytes = swapCapacity, swapBase
				}
			}
			r.Nodes = append(r.Nodes, node)
		}
	}
	if len(r.Nodes) == 0 {
		return fmt.Errorf("scenario has no nodes")
	}
	if len(r.Nodes) > MaxNodes {
		return fmt.Errorf("scenario has %d nodes; at most %d fit the kubelet address plan", len(r.Nodes), MaxNodes)
	}
	return nil
}

// resolveSwap checks a group's swap and returns how many of its size nodes
// have swap, their capacity and their base swap usage.
func resolveSwap(g NodeGroup, size int) (nodes int, capacity, base uint64, err error) {
	sw := g.Swap
	if sw == nil {
		return 0, 0, 0, nil
	}
	group := g.Name
	if group == "" {
		group = g.NamePrefix + "*"
	}
	if g.BaseUsage.Swap != nil {
		return 0, 0, 0, fmt.Errorf("node group %s: give the swap nodes' base swap usage as swap.baseUsage, not baseUsage.swap", group)
	}
	if sw.Capacity == nil || sw.Capacity.Sign() <= 0 {
		return 0, 0, 0, fmt.Errorf("node group %s: swap.capacity must be positive", group)
	}
	if sw.Count < 0 {
		return 0, 0, 0, fmt.Errorf("node group %s: swap.count must not be negative", group)
	}
	capacity, base = sw.Capacity.Bytes(), sw.BaseUsage.Bytes()
	if base > capacity {
		return 0, 0, 0, fmt.Errorf("node group %s: swap.baseUsage %s exceeds swap.capacity %s", group, sw.BaseUsage, sw.Capacity)
	}
	nodes = size
	if sw.Count > 0 {
		nodes = min(sw.Count, size)
	}
	return nodes, capacity, base, nil
}

func mergeResources(base, over ResourceList) ResourceList {
	out := make(ResourceList, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func expandPodSet(setIndex int, set PodSet, nodes []Node, nodeNames map[string]bool) ([]Pod, error) {
	namespaces := set.Namespaces
	if len(namespaces) == 0 {
		ns := set.Namespace
		if ns == "" {
			ns = "default"
		}
		namespaces = []string{ns}
	}
	if set.Node != "" && !nodeNames[set.Node] {
		return nil, fmt.Errorf("pod set %d: unknown node %q", setIndex, set.Node)
	}
	if err := validateContainers(fmt.Sprintf("pod set %d", setIndex), set.Containers, set.InitContainers); err != nil {
		return nil, err
	}
	if set.ContainersPerPod < 0 || (set.ContainersPerPod > 0 && len(set.Containers) > 0) {
		return nil, fmt.Errorf("pod set %d: containersPerPod must be positive and only applies when containers are omitted", setIndex)
	}
	prefix := set.NamePrefix
	if prefix == "" {
		prefix = fmt.Sprintf("pod%d", setIndex)
	}
	mk := func(seq int, name, node string, nodeIndex, podIndex int) (Pod, error) {
		if err := validateName("pod", name); err != nil {
			return Pod{}, err
		}
		p := Pod{
			Namespace: namespaces[seq%len(namespaces)], Name: name, Node: node,
			Labels: set.Labels, Containers: set.Containers, InitContainers: set.InitContainers,
		}
		if len(p.Containers) == 0 {
			p.Containers = variedContainers(nodeIndex, podIndex, set.ContainersPerPod)
		}
		if len(p.Labels) == 0 {
			p.Labels = map[string]string{"app": prefix}
		}
		return p, nil
	}
	var out []Pod
	switch {
	case set.Name != "":
		p, err := mk(0, set.Name, set.Node, setIndex, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	case set.PerNode > 0:
		out = make([]Pod, 0, set.PerNode*len(nodes))
		for _, n := range nodes {
			if set.Node != "" && n.Name != set.Node {
				continue
			}
			for j := 0; j < set.PerNode; j++ {
				p, err := mk(n.Index*set.PerNode+j, fmt.Sprintf("%s-%s-%d", prefix, n.Name, j), n.Name, n.Index, j)
				if err != nil {
					return nil, err
				}
				out = append(out, p)
			}
		}
	default:
		for j := 0; j < set.Count; j++ {
			p, err := mk(j, fmt.Sprintf("%s-%d", prefix, j+1), set.Node, setIndex, j)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// variedContainers gives filler pods count containers (0: one or two) whose
// usage varies deterministically with the node and pod index.
func variedContainers(nodeIndex, podIndex, count int) []Container {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%d/%d", nodeIndex, podIndex)
	v := h.Sum64()
	if count <= 0 {
		count = 1 + int((v>>16)%2)
	}
	cpuMilli := 5 + int(v%195)
	memMi := 16 + int((v>>8)%240)
	out := make([]Container, 0, count)
	out = append(out, Container{
		Name:     "app",
		Requests: ResourceList{"cpu": MustQuantity("100m"), "memory": MustQuantity("128Mi")},
		Usage: UsageSpec{
			CPU:    ptr(MustQuantity(fmt.Sprintf("%dm", cpuMilli))),
			Memory: ptr(MustQuantity(fmt.Sprintf("%dMi", memMi))),
		},
	})
	for i := 1; i < count; i++ {
		name, w := "log-shipper", v
		if i > 1 {
			// Further helpers draw their usage from their own hash.
			name = fmt.Sprintf("helper-%d", i)
			_, _ = fmt.Fprintf(h, "/%d", i)
			w = h.Sum64()
		}
		out = append(out, Container{
			Name:     name,
			Requests: ResourceList{"cpu": MustQuantity("10m"), "memory": MustQuantity("32Mi")},
			Usage: UsageSpec{
				CPU:    ptr(MustQuantity(fmt.Sprintf("%dm", 1+int((w>>24)%20)))),
				Memory: ptr(MustQuantity(fmt.Sprintf("%dKi", 8192+int((w>>32)%16384)))),
			},
		})
	}
	return out
}

func validateContainers(owner string, containers, inits []Container) error {
	seen := map[string]bool{}
	for _, c := range append(append([]Container{}, containers...), inits...) {
		if err := validateName("container", c.Name); err != nil {
			return fmt.Errorf("%s: %w", owner, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("%s: container %s defined twice", owner, c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

func validateName(kind, name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 && kind != "node" && kind != "pod" {
		return fmt.Errorf("%s name %q: %v", kind, name, errs)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%s name %q: %v", kind, name, errs)
	}
	return nil
}

// Usage converts a usage spec to the simulator's units.
func (u UsageSpec) Usage() sim.Usage {
	return sim.Usage{CPUNanoCores: u.CPU.NanoCores(), WorkingSetBytes: u.Memory.Bytes(), SwapBytes: u.Swap.Bytes()}
}

// IsSet reports whether any usage field is given.
func (u UsageSpec) IsSet() bool { return u.CPU != nil || u.Memory != nil || u.Swap != nil }

func ptr[T any](v T) *T { return &v }
