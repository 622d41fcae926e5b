package sim

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Sample returns exactly what a node's kubelet reported at the latest tick at
// or before q.At, for the node itself, a pod (Namespace+Pod) or a container.
func (m *Model) Sample(q SampleQuery) (Sample, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	if q.Node == "" && q.Pod != "" {
		if p, ok := m.pods[PodKey{Namespace: q.Namespace, Name: q.Pod}]; ok {
			q.Node = p.node.spec.Name
		}
	}
	n, ok := m.nodes[q.Node]
	if !ok {
		if q.Node == "" {
			return Sample{}, unknownPod(PodKey{Namespace: q.Namespace, Name: q.Pod})
		}
		return Sample{}, unknownNode(q.Node)
	}
	tick := n.tickAt(at.UnixNano())
	out := Sample{
		Node:            n.spec.Name,
		Namespace:       q.Namespace,
		Pod:             q.Pod,
		Container:       q.Container,
		Tick:            time.Unix(0, tick).UTC(),
		TimestampMillis: time.Unix(0, tick).UnixMilli(),
	}
	if tick < n.cpu.oldest() {
		return Sample{}, ErrHistoryExpired
	}
	if q.Pod == "" {
		out.CPUCoreNanoseconds, _ = n.cpu.valueAt(tick)
		out.CPUNanoCores = n.cpu.rateAt(tick)
		ws, _ := n.baseWS.valueAt(tick)
		sw, _ := n.baseSw.valueAt(tick)
		for _, p := range n.pods {
			if p.start > tick {
				continue
			}
			for _, c := range p.containers {
				if inc := c.at(tick); inc != nil {
					cws, _ := inc.ws.valueAt(tick)
					csw, _ := inc.swap.valueAt(tick)
					ws += cws
					sw += csw
				}
			}
		}
		out.WorkingSetBytes, out.SwapBytes = ws, sw
		out.StartTime = time.Unix(0, n.boot).UTC()
		return out, nil
	}
	key := PodKey{Namespace: q.Namespace, Name: q.Pod}
	p, ok := n.pods[key]
	if !ok {
		return Sample{}, unknownPod(key)
	}
	if p.start > tick {
		return Sample{}, ErrNotYetReported
	}
	if p.cpu.oldest() > tick {
		return Sample{}, ErrHistoryExpired
	}
	if q.Container == "" {
		out.CPUCoreNanoseconds, _ = p.cpu.valueAt(tick)
		out.CPUNanoCores = p.cpu.rateAt(tick)
		for _, c := range p.containers {
			if inc := c.at(tick); inc != nil {
				cws, _ := inc.ws.valueAt(tick)
				csw, _ := inc.swap.valueAt(tick)
				out.WorkingSetBytes += cws
				out.SwapBytes += csw
			}
		}
		out.StartTime = time.Unix(0, p.start).UTC()
		return out, nil
	}
	for _, c := range p.containers {
		if c.name != q.Container {
			continue
		}
		inc := c.at(tick)
		if inc == nil {
			return Sample{}, ErrNotYetReported
		}
		if inc.cpu.oldest() > tick {
			return Sample{}, ErrHistoryExpired
		}
		out.CPUCoreNanoseconds, _ = inc.cpu.valueAt(tick)
		out.CPUNanoCores = inc.cpu.rateAt(tick)
		out.WorkingSetBytes, _ = inc.ws.valueAt(tick)
		out.SwapBytes, _ = inc.swap.valueAt(tick)
		out.StartTime = time.Unix(0, inc.start).UTC()
		// Restarts before this instance are the ones whose successor started by the tick.
		out.RestartCount = c.restarts
		for i := len(c.incarnations) - 1; i >= 0 && c.incarnations[i].start > tick; i-- {
			out.RestartCount--
		}
		return out, nil
	}
	return Sample{}, fmt.Errorf("%w %q in pod %s", ErrUnknownContainer, q.Container, key)
}

// PromValue formats a sample value the way the Prometheus text encoder used
// by the kubelet does (shortest round-trip 'g' format, special infinities).
func PromValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// CPUSecondsText is the text of a cumulative CPU sample
// (core-nanoseconds divided by 1e9 in float64, as the collector computes it).
func CPUSecondsText(coreNanoseconds uint64) string {
	return PromValue(float64(coreNanoseconds) / float64(time.Second))
}

// BytesText is the text of a memory or swap sample.
func BytesText(b uint64) string { return PromValue(float64(b)) }

// StartTimeText is the text of container_start_time_seconds.
func StartTimeText(t time.Time) string {
	return PromValue(float64(t.UnixNano()) / float64(time.Second))
}
