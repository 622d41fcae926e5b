package sim

import (
	"math/rand/v2"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Fixed sizes for the parts of a summary nothing in this project measures;
// they only need to look like a real node's.
const (
	rootFsCapacity  = 100 << 30
	rootFsAvailable = 61 << 30
	rootFsInodes    = 6_400_000
	maxPID          = 4_194_304
	containerRootfs = 48 << 10
	containerLogs   = 16 << 10
)

// SummaryOptions selects the summary flavour.
type SummaryOptions struct {
	// CPUAndMemoryOnly mirrors the kubelet's GetCPUAndMemoryStats (used by
	// /metrics/resource and /stats/summary?only_cpu_and_memory=true).
	CPUAndMemoryOnly bool
	// Shuffle randomises pod and container order, as the kubelet's map
	// iteration does. Off for deterministic tests.
	Shuffle bool
}

// Summary builds the stats summary a node's kubelet reports at time `now`:
// the values of its latest tick at or before `now`.
func (m *Model) Summary(nodeName string, now time.Time, opts SummaryOptions) (*statsapi.Summary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, ok := m.nodes[nodeName]
	if !ok {
		return nil, unknownNode(nodeName)
	}
	tick := n.tickAt(now.UnixNano())
	if tick < n.cpu.oldest() {
		tick = n.cpu.oldest()
	}
	ts := metav1.NewTime(time.Unix(0, tick))

	s := &statsapi.Summary{Pods: make([]statsapi.PodStats, 0, len(n.pods))}
	var podsCPU, podsWS, podsSwap uint64
	var podsRate uint64
	for _, p := range n.pods {
		ps, reported := p.stats(tick, ts, opts)
		if !reported {
			continue
		}
		s.Pods = append(s.Pods, ps)
		podsWS += *ps.Memory.WorkingSetBytes
		podsSwap += *ps.Swap.SwapUsageBytes
		podsRate += *ps.CPU.UsageNanoCores
	}
	if opts.Shuffle {
		rand.Shuffle(len(s.Pods), func(i, j int) { s.Pods[i], s.Pods[j] = s.Pods[j], s.Pods[i] })
	} else {
		sortPods(s.Pods)
	}

	nodeCPU, _ := n.cpu.valueAt(tick)
	baseCPU, _ := n.baseCPU.valueAt(tick)
	baseRate := n.baseCPU.rateAt(tick)
	baseWS, _ := n.baseWS.valueAt(tick)
	baseSwap, _ := n.baseSw.valueAt(tick)
	nodeWS := baseWS + podsWS
	nodeSwap := baseSwap + podsSwap
	podsCPU = nodeCPU - baseCPU

	s.Node = statsapi.NodeStats{
		NodeName:  nodeName,
		StartTime: metav1.NewTime(time.Unix(0, n.boot)),
		CPU:       cpuStats(ts, n.cpu.rateAt(tick), nodeCPU),
		Memory:    memoryStats(ts, nodeWS, n.spec.MemoryCapacityBytes),
		Swap:      &statsapi.SwapStats{Time: ts, SwapUsageBytes: ptr(nodeSwap)},
		SystemContainers: []statsapi.ContainerStats{
			systemContainer(statsapi.SystemContainerKubelet, n.boot, ts, baseRate/2, baseCPU/2, baseWS/3),
			systemContainer(statsapi.SystemContainerRuntime, n.boot, ts, baseRate/4, baseCPU/4, baseWS/4),
			systemContainer(statsapi.SystemContainerPods, n.boot, ts, podsRate, podsCPU, podsWS),
		},
	}
	if !opts.CPUAndMemoryOnly {
		elapsed := uint64(max(tick-n.boot, 0))
		s.Node.Network = networkStats(ts, elapsed)
		s.Node.Fs = fsStats(ts, rootFsCapacity, rootFsAvailable, rootFsInodes)
		s.Node.Runtime = &statsapi.RuntimeStats{
			ImageFs:     fsStats(ts, rootFsCapacity, rootFsAvailable, rootFsInodes),
			ContainerFs: fsStats(ts, rootFsCapacity, rootFsAvailable, rootFsInodes),
		}
		procs := int64(200 + 3*len(s.Pods))
		s.Node.Rlimit = &statsapi.RlimitStats{Time: ts, MaxPID: ptr(int64(maxPID)), NumOfRunningProcesses: &procs}
	}
	return s, nil
}

func (p *pod) stats(tick int64, ts metav1.Time, opts SummaryOptions) (statsapi.PodStats, bool) {
	if p.start > tick {
		return statsapi.PodStats{}, false
	}
	ps := statsapi.PodStats{
		PodRef:     statsapi.PodReference{Name: p.key.Name, Namespace: p.key.Namespace, UID: p.uid},
		StartTime:  metav1.NewTime(time.Unix(0, p.start)),
		Containers: make([]statsapi.ContainerStats, 0, len(p.containers)),
	}
	var ws, swap uint64
	for _, c := range p.containers {
		inc := c.at(tick)
		if inc == nil {
			continue
		}
		cpu, _ := inc.cpu.valueAt(tick)
		cws, _ := inc.ws.valueAt(tick)
		csw, _ := inc.swap.valueAt(tick)
		ws += cws
		swap += csw
		cs := statsapi.ContainerStats{
			Name:      c.name,
			StartTime: metav1.NewTime(time.Unix(0, inc.start)),
			CPU:       cpuStats(ts, inc.cpu.rateAt(tick), cpu),
			Memory:    memoryStats(ts, cws, c.memLimit),
			Swap:      &statsapi.SwapStats{Time: ts, SwapUsageBytes: ptr(csw)},
		}
		if !opts.CPUAndMemoryOnly {
			cs.Rootfs = fsStats(ts, rootFsCapacity, rootFsAvailable, rootFsInodes)
			cs.Rootfs.UsedBytes = ptr(uint64(containerRootfs))
			cs.Logs = fsStats(ts, rootFsCapacity, rootFsAvailable, rootFsInodes)
			cs.Logs.UsedBytes = ptr(uint64(containerLogs))
		}
		ps.Containers = append(ps.Containers, cs)
	}
	if opts.Shuffle {
		rand.Shuffle(len(ps.Containers), func(i, j int) {
			ps.Containers[i], ps.Containers[j] = ps.Containers[j], ps.Containers[i]
		})
	}
	podCPU, _ := p.cpu.valueAt(tick)
	ps.CPU = cpuStats(ts, p.cpu.rateAt(tick), podCPU)
	ps.Memory = memoryStats(ts, ws, 0)
	ps.Swap = &statsapi.SwapStats{Time: ts, SwapUsageBytes: ptr(swap)}
	if !opts.CPUAndMemoryOnly {
		ps.Network = networkStats(ts, uint64(max(tick-p.start, 0)))
		ps.EphemeralStorage = fsStats(ts, rootFsCapacity, rootFsAvailable, rootFsInodes)
		ps.EphemeralStorage.UsedBytes = ptr(uint64(len(p.containers)) * (containerRootfs + containerLogs))
		ps.ProcessStats = &statsapi.ProcessStats{ProcessCount: ptr(uint64(len(ps.Containers)))}
	}
	return ps, true
}

// at returns the container instance running at tick, or nil before its start.
func (c *container) at(tick int64) *incarnation {
	for i := len(c.incarnations) - 1; i >= 0; i-- {
		if c.incarnations[i].start <= tick {
			return c.incarnations[i]
		}
	}
	return nil
}

func cpuStats(ts metav1.Time, rate, cumulative uint64) *statsapi.CPUStats {
	return &statsapi.CPUStats{Time: ts, UsageNanoCores: ptr(rate), UsageCoreNanoSeconds: ptr(cumulative)}
}

// memoryStats derives the secondary memory figures from the working set so
// that they stay plausible (usage ≥ working set ≥ rss).
func memoryStats(ts metav1.Time, workingSet, limit uint64) *statsapi.MemoryStats {
	ms := &statsapi.MemoryStats{
		Time:            ts,
		UsageBytes:      ptr(workingSet + workingSet/8),
		WorkingSetBytes: ptr(workingSet),
		RSSBytes:        ptr(workingSet * 3 / 4),
		PageFaults:      ptr(workingSet / 4096),
		MajorPageFaults: ptr(uint64(0)),
	}
	if limit > workingSet {
		ms.AvailableBytes = ptr(limit - workingSet)
	}
	return ms
}

func systemContainer(name string, boot int64, ts metav1.Time, rate, cpu, ws uint64) statsapi.ContainerStats {
	return statsapi.ContainerStats{
		Name:      name,
		StartTime: metav1.NewTime(time.Unix(0, boot)),
		CPU:       cpuStats(ts, rate, cpu),
		Memory:    memoryStats(ts, ws, 0),
	}
}

// networkStats grows traffic counters with elapsed time (about 1 KB/s rx).
func networkStats(ts metav1.Time, elapsedNanos uint64) *statsapi.NetworkStats {
	rx := elapsedNanos / 1_000_000
	tx := rx / 2
	iface := statsapi.InterfaceStats{Name: "eth0", RxBytes: ptr(rx), RxErrors: ptr(uint64(0)), TxBytes: ptr(tx), TxErrors: ptr(uint64(0))}
	return &statsapi.NetworkStats{Time: ts, InterfaceStats: iface, Interfaces: []statsapi.InterfaceStats{iface}}
}

func fsStats(ts metav1.Time, capacity, available, inodes uint64) *statsapi.FsStats {
	return &statsapi.FsStats{
		Time:           ts,
		AvailableBytes: ptr(available),
		CapacityBytes:  ptr(capacity),
		UsedBytes:      ptr(capacity - available),
		InodesFree:     ptr(inodes - inodes/16),
		Inodes:         ptr(inodes),
		InodesUsed:     ptr(inodes / 16),
	}
}

func sortPods(pods []statsapi.PodStats) {
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i].PodRef, pods[j].PodRef
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

func ptr[T any](v T) *T { return &v }
