package sim

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// DefaultRetention is how much rate-change history is kept for exact queries.
const DefaultRetention = 30 * time.Minute

// Model holds every simulated node, pod and container. It is safe for
// concurrent use: scrapes take the read lock, changes the write lock.
type Model struct {
	mu        sync.RWMutex
	nodes     map[string]*node
	pods      map[PodKey]*pod
	rules     []usageRule
	retention time.Duration
}

type node struct {
	spec    NodeSpec
	boot    int64
	period  int64
	phase   int64
	baseCPU cpuCounter // base load only (system containers)
	cpu     cpuCounter // base plus every container ever run on the node
	baseWS  gauge
	baseSw  gauge
	pods    map[PodKey]*pod
}

type pod struct {
	key        PodKey
	uid        string
	node       *node
	labels     labels.Set
	start      int64
	cpu        cpuCounter // never resets: it includes restarted containers
	containers []*container
}

type container struct {
	name     string
	sidecar  bool
	memLimit uint64
	restarts int32
	// incarnations holds the current instance last; older ones are kept
	// while the retained history may still ask about them.
	incarnations []*incarnation
}

type incarnation struct {
	start int64
	end   int64 // zero while running
	cpu   cpuCounter
	ws    gauge
	swap  gauge
}

type usageRule struct {
	namespace string
	selector  labels.Selector
	container string
	update    UsageUpdate
}

// NewModel returns an empty model keeping `retention` of history (0: default).
func NewModel(retention time.Duration) *Model {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Model{
		nodes:     make(map[string]*node),
		pods:      make(map[PodKey]*pod),
		retention: retention,
	}
}

// AddNode registers a node. Its counters start at BootTime.
func (m *Model) AddNode(spec NodeSpec) error {
	if spec.Name == "" {
		return fmt.Errorf("%w: node without a name", ErrInvalidTarget)
	}
	if spec.SamplePeriod <= 0 {
		spec.SamplePeriod = time.Second
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.nodes[spec.Name]; dup {
		return fmt.Errorf("node %q already exists", spec.Name)
	}
	boot := spec.BootTime.UnixNano()
	m.nodes[spec.Name] = &node{
		spec:    spec,
		boot:    boot,
		period:  int64(spec.SamplePeriod),
		phase:   int64(spec.SamplePhase) % int64(spec.SamplePeriod),
		baseCPU: newCPUCounter(boot, spec.Base.CPUNanoCores),
		cpu:     newCPUCounter(boot, spec.Base.CPUNanoCores),
		baseWS:  newGauge(boot, spec.Base.WorkingSetBytes),
		baseSw:  newGauge(boot, spec.Base.SwapBytes),
		pods:    make(map[PodKey]*pod),
	}
	return nil
}

// NodeNames lists the nodes in name order.
func (m *Model) NodeNames() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.nodes))
	for name := range m.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Counts summarises the model.
func (m *Model) Counts() Counts {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := Counts{Nodes: len(m.nodes), Pods: len(m.pods), Rules: len(m.rules)}
	for _, p := range m.pods {
		c.Containers += len(p.containers)
	}
	return c
}

// PodsOnNode counts the pods running on a node.
func (m *Model) PodsOnNode(name string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if n, ok := m.nodes[name]; ok {
		return len(n.pods)
	}
	return 0
}

// tickAt is the latest housekeeping tick of n at or before t.
func (n *node) tickAt(t int64) int64 {
	k := t - n.phase
	q := k / n.period
	if k < 0 && k%n.period != 0 {
		q--
	}
	return q*n.period + n.phase
}

// Tick returns the latest tick of a node at or before t.
func (m *Model) Tick(nodeName string, t time.Time) (time.Time, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, ok := m.nodes[nodeName]
	if !ok {
		return time.Time{}, unknownNode(nodeName)
	}
	return time.Unix(0, n.tickAt(t.UnixNano())), nil
}

// AddPod starts a pod at `at`: its containers start with the given usage,
// overridden by any matching usage rule. A pod with the same key but another
// UID replaces the old one (a recreated pod).
func (m *Model) AddPod(spec PodSpec, at time.Time) (PodState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[spec.Node]
	if !ok {
		return PodState{}, unknownNode(spec.Node)
	}
	t := at.UnixNano()
	if old, exists := m.pods[spec.PodKey]; exists {
		if old.uid == spec.UID {
			return old.state(), nil
		}
		m.removeLocked(old, t)
	}
	p := &pod{
		key:    spec.PodKey,
		uid:    spec.UID,
		node:   n,
		labels: labels.Set(spec.Labels),
		start:  t,
	}
	var podRate uint64
	for _, cs := range spec.Containers {
		usage := cs.Usage
		for _, r := range m.rules {
			if r.matches(p, cs.Name) {
				usage = r.update.applyTo(usage)
			}
		}
		c := &container{name: cs.Name, sidecar: cs.Sidecar, memLimit: cs.MemoryLimitBytes}
		c.incarnations = []*incarnation{newIncarnation(t, usage)}
		p.containers = append(p.containers, c)
		podRate += usage.CPUNanoCores
	}
	p.cpu = newCPUCounter(t, podRate)
	n.pods[p.key] = p
	m.pods[p.key] = p
	m.refreshNodeRate(n, t)
	return p.state(), nil
}

func newIncarnation(t int64, u Usage) *incarnation {
	return &incarnation{
		start: t,
		cpu:   newCPUCounter(t, u.CPUNanoCores),
		ws:    newGauge(t, u.WorkingSetBytes),
		swap:  newGauge(t, u.SwapBytes),
	}
}

// RemovePod stops reporting a pod. An empty uid matches any instance.
func (m *Model) RemovePod(key PodKey, uid string, at time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pods[key]
	if !ok || (uid != "" && p.uid != uid) {
		return false
	}
	m.removeLocked(p, at.UnixNano())
	return true
}

func (m *Model) removeLocked(p *pod, t int64) {
	delete(m.pods, p.key)
	delete(p.node.pods, p.key)
	m.refreshNodeRate(p.node, t)
}

// HasPod reports whether the pod (with that UID, if given) is running.
func (m *Model) HasPod(key PodKey, uid string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.pods[key]
	return ok && (uid == "" || p.uid == uid)
}

// Pod returns the state of a running pod.
func (m *Model) Pod(key PodKey) (PodState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.pods[key]
	if !ok {
		return PodState{}, false
	}
	return p.state(), true
}

func (p *pod) state() PodState {
	s := PodState{PodKey: p.key, UID: p.uid, Node: p.node.spec.Name, StartedAt: time.Unix(0, p.start)}
	for _, c := range p.containers {
		cur := c.current()
		cs := ContainerState{
			Name:         c.name,
			Sidecar:      c.sidecar,
			StartedAt:    time.Unix(0, cur.start),
			RestartCount: c.restarts,
			Usage: Usage{
				CPUNanoCores:    cur.cpu.currentRate(),
				WorkingSetBytes: cur.ws.current(),
				SwapBytes:       cur.swap.current(),
			},
		}
		if len(c.incarnations) > 1 {
			prev := c.incarnations[len(c.incarnations)-2]
			cs.PreviousStartedAt = time.Unix(0, prev.start)
			cs.PreviousFinishedAt = time.Unix(0, prev.end)
		}
		s.Containers = append(s.Containers, cs)
	}
	return s
}

func (c *container) current() *incarnation {
	return c.incarnations[len(c.incarnations)-1]
}

// refreshNodeRate re-derives the pod and node CPU rates after a change at t.
func (m *Model) refreshNodeRate(n *node, t int64) {
	rate := n.baseCPU.currentRate()
	for _, p := range n.pods {
		var podRate uint64
		for _, c := range p.containers {
			podRate += c.current().cpu.currentRate()
		}
		p.cpu.setRate(t, podRate)
		rate += podRate
	}
	n.cpu.setRate(t, rate)
	m.trimNode(n, t)
}

// trimNode drops history that no query can reach any more.
func (m *Model) trimNode(n *node, t int64) {
	before := t - int64(m.retention)
	if before <= n.boot {
		return
	}
	n.cpu.trim(before)
	n.baseCPU.trim(before)
	n.baseWS.trim(before)
	n.baseSw.trim(before)
	for _, p := range n.pods {
		p.cpu.trim(before)
		for _, c := range p.containers {
			for len(c.incarnations) > 2 && c.incarnations[1].start <= before {
				c.incarnations = c.incarnations[1:]
			}
			for _, inc := range c.incarnations {
				inc.cpu.trim(before)
				inc.ws.trim(before)
				inc.swap.trim(before)
			}
		}
	}
}

func (r usageRule) matches(p *pod, containerName string) bool {
	if r.namespace != "" && r.namespace != p.key.Namespace {
		return false
	}
	if r.container != "" && r.container != containerName {
		return false
	}
	return r.selector.Matches(p.labels)
}

// SetUsage changes usage from `at` on and returns how many containers (or
// nodes) it touched. A Selector target also records a rule, so pods that
// start later with matching labels get the same usage.
func (m *Model) SetUsage(target Target, update UsageUpdate, at time.Time) (int, error) {
	if update.IsEmpty() {
		return 0, fmt.Errorf("%w: no usage field to change", ErrInvalidTarget)
	}
	t := at.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case target.Selector != "":
		sel, err := labels.Parse(target.Selector)
		if err != nil {
			return 0, fmt.Errorf("%w: selector: %v", ErrInvalidTarget, err)
		}
		rule := usageRule{namespace: target.Namespace, selector: sel, container: target.Container, update: update}
		m.rules = append(m.rules, rule)
		touched := 0
		changedNodes := map[*node]bool{}
		for _, p := range m.pods {
			if target.Node != "" && p.node.spec.Name != target.Node {
				continue
			}
			for _, c := range p.containers {
				if rule.matches(p, c.name) {
					c.current().apply(t, update)
					touched++
					changedNodes[p.node] = true
				}
			}
		}
		for n := range changedNodes {
			m.refreshNodeRate(n, t)
		}
		return touched, nil
	case target.Pod != "":
		p, ok := m.pods[PodKey{Namespace: target.Namespace, Name: target.Pod}]
		if !ok {
			return 0, unknownPod(PodKey{Namespace: target.Namespace, Name: target.Pod})
		}
		touched := 0
		for _, c := range p.containers {
			if target.Container == "" || target.Container == c.name {
				c.current().apply(t, update)
				touched++
			}
		}
		if touched == 0 {
			return 0, fmt.Errorf("%w %q in pod %s", ErrUnknownContainer, target.Container, p.key)
		}
		m.refreshNodeRate(p.node, t)
		return touched, nil
	case target.Node != "":
		n, ok := m.nodes[target.Node]
		if !ok {
			return 0, unknownNode(target.Node)
		}
		if update.CPUNanoCores != nil {
			n.baseCPU.setRate(t, *update.CPUNanoCores)
		}
		if update.WorkingSetBytes != nil {
			n.baseWS.set(t, *update.WorkingSetBytes)
		}
		if update.SwapBytes != nil {
			n.baseSw.set(t, *update.SwapBytes)
		}
		m.refreshNodeRate(n, t)
		return 1, nil
	default:
		return 0, fmt.Errorf("%w: give a node, a pod or a selector", ErrInvalidTarget)
	}
}

func (inc *incarnation) apply(t int64, u UsageUpdate) {
	if u.CPUNanoCores != nil {
		inc.cpu.setRate(t, *u.CPUNanoCores)
	}
	if u.WorkingSetBytes != nil {
		inc.ws.set(t, *u.WorkingSetBytes)
	}
	if u.SwapBytes != nil {
		inc.swap.set(t, *u.SwapBytes)
	}
}

// RestartContainer restarts a container at `at`: a new instance starts with
// a zero CPU counter and the same usage, and the restart count grows.
func (m *Model) RestartContainer(key PodKey, name string, at time.Time) (PodState, error) {
	t := at.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pods[key]
	if !ok {
		return PodState{}, unknownPod(key)
	}
	for _, c := range p.containers {
		if c.name != name {
			continue
		}
		cur := c.current()
		if t <= cur.start {
			t = cur.start + 1
		}
		cur.end = t
		next := newIncarnation(t, Usage{
			CPUNanoCores:    cur.cpu.currentRate(),
			WorkingSetBytes: cur.ws.current(),
			SwapBytes:       cur.swap.current(),
		})
		c.incarnations = append(c.incarnations, next)
		c.restarts++
		m.trimNode(p.node, t)
		return p.state(), nil
	}
	return PodState{}, fmt.Errorf("%w %q in pod %s", ErrUnknownContainer, name, key)
}
