package sim

import (
	"math"
	"math/bits"
	"sort"
)

// nanosPerSecond converts between a rate in nanocores and core-nanoseconds per
// wall-clock nanosecond.
const nanosPerSecond = 1_000_000_000

// cpuCounter integrates a piecewise-constant CPU rate into a cumulative
// core-nanosecond counter. Every segment stores the exact cumulative value at
// its start, so the value at any instant is a pure function of the recorded
// history: tests can recompute what a kubelet reported at a past tick.
type cpuCounter struct {
	segs []cpuSegment
}

type cpuSegment struct {
	from int64  // unix nanoseconds
	cum  uint64 // core-nanoseconds consumed at `from`
	rate uint64 // nanocores from `from` on
}

func newCPUCounter(start int64, rate uint64) cpuCounter {
	return cpuCounter{segs: []cpuSegment{{from: start, rate: rate}}}
}

// integrate returns rate*dt/1e9 without overflowing: rates of many cores over
// months exceed 64 bits in the intermediate product.
func integrate(rate uint64, dtNanos int64) uint64 {
	if dtNanos <= 0 || rate == 0 {
		return 0
	}
	hi, lo := bits.Mul64(rate, uint64(dtNanos))
	if hi >= nanosPerSecond {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, nanosPerSecond)
	return q
}

// segmentAt returns the index of the segment covering t, or -1 before the start.
func (c *cpuCounter) segmentAt(t int64) int {
	return sort.Search(len(c.segs), func(i int) bool { return c.segs[i].from > t }) - 1
}

// valueAt is the cumulative core-nanoseconds at t.
func (c *cpuCounter) valueAt(t int64) (uint64, bool) {
	i := c.segmentAt(t)
	if i < 0 {
		return 0, false
	}
	s := c.segs[i]
	return s.cum + integrate(s.rate, t-s.from), true
}

// rateAt is the rate in nanocores in force at t.
func (c *cpuCounter) rateAt(t int64) uint64 {
	i := c.segmentAt(t)
	if i < 0 {
		return 0
	}
	return c.segs[i].rate
}

func (c *cpuCounter) currentRate() uint64 {
	return c.segs[len(c.segs)-1].rate
}

func (c *cpuCounter) start() int64 {
	return c.segs[0].from
}

// setRate changes the rate from t on. A change at or before the last segment
// start (same instant, or a clock step backwards) rewrites that segment's rate
// so the history stays ordered.
func (c *cpuCounter) setRate(t int64, rate uint64) {
	last := &c.segs[len(c.segs)-1]
	if last.rate == rate {
		return
	}
	if t <= last.from {
		last.rate = rate
		return
	}
	cum := last.cum + integrate(last.rate, t-last.from)
	c.segs = append(c.segs, cpuSegment{from: t, cum: cum, rate: rate})
}

// trim forgets segments that ended before `before`, keeping the one covering it.
func (c *cpuCounter) trim(before int64) {
	i := c.segmentAt(before)
	if i > 0 {
		c.segs = append(c.segs[:0:0], c.segs[i:]...)
	}
}

// oldest is the earliest instant the counter can still answer for.
func (c *cpuCounter) oldest() int64 {
	return c.segs[0].from
}

// gauge is a piecewise-constant value (working set, swap).
type gauge struct {
	segs []gaugeSegment
}

type gaugeSegment struct {
	from  int64
	value uint64
}

func newGauge(start int64, value uint64) gauge {
	return gauge{segs: []gaugeSegment{{from: start, value: value}}}
}

func (g *gauge) valueAt(t int64) (uint64, bool) {
	i := sort.Search(len(g.segs), func(i int) bool { return g.segs[i].from > t }) - 1
	if i < 0 {
		return 0, false
	}
	return g.segs[i].value, true
}

func (g *gauge) current() uint64 {
	return g.segs[len(g.segs)-1].value
}

func (g *gauge) set(t int64, value uint64) {
	last := &g.segs[len(g.segs)-1]
	if last.value == value {
		return
	}
	if t <= last.from {
		last.value = value
		return
	}
	g.segs = append(g.segs, gaugeSegment{from: t, value: value})
}

func (g *gauge) trim(before int64) {
	i := sort.Search(len(g.segs), func(i int) bool { return g.segs[i].from > before }) - 1
	if i > 0 {
		g.segs = append(g.segs[:0:0], g.segs[i:]...)
	}
}
