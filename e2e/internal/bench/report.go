package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result holds every figure of a run; it is also the --json document.
type Result struct {
	Binary            string   `json:"binary"`
	Args              []string `json:"extraArgs"`
	Nodes             int      `json:"nodes"`
	PodsPerNode       int      `json:"podsPerNode"`
	ContainersPerPod  int      `json:"containersPerPod"`
	ResolutionSeconds float64  `json:"resolutionSeconds"`
	Cycles            int      `json:"cycles"`
	SandboxReused     bool     `json:"sandboxReused"`
	Machine           Machine  `json:"machine"`
	// PodsServed and NodesServed count the items of the full lists.
	PodsServed  int `json:"podsServed"`
	NodesServed int `json:"nodesServed"`

	// Times are from exec: first non-empty node list, complete node list,
	// ready with the APIService Available.
	TimeToFirstMetricsSeconds float64  `json:"timeToFirstMetricsSeconds"`
	FirstNodesServed          int      `json:"firstNodesServed"`
	TimeToAllNodesSeconds     *float64 `json:"timeToAllNodesSeconds"`
	TimeToAvailableSeconds    float64  `json:"timeToAvailableSeconds"`

	RSS                 RSSFigures       `json:"rss"`
	CPU                 CPUFigures       `json:"cpu"`
	CycleDuration       CycleDurations   `json:"cycleDuration"`
	StoreUpdateInterval Intervals        `json:"storeUpdateInterval"`
	NodesScrapedOK      NodesScraped     `json:"nodesScrapedOK"`
	Latency             []LatencyFigures `json:"latency"`
	QueryPhase          QueryPhase       `json:"queryPhase"`
	// ProbeRequests counts the single-node GETs that found cycle ends
	// during the measured cycles (their CPU is in the per-cycle figure;
	// see CPUFigures.ProbeSecondsPerCycle).
	ProbeRequests int `json:"probeRequests"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs             int     `json:"cpus"`
	CPUModel         string  `json:"cpuModel"`
	MemTotalBytes    uint64  `json:"memTotalBytes"`
	Kernel           string  `json:"kernel"`
	LoadBefore       float64 `json:"loadAverage1mBeforeCycles"`
	LoadAfterCycles  float64 `json:"loadAverage1mAfterCycles"`
	LoadAfterQueries float64 `json:"loadAverage1mAfterQueries"`
}

// RSSFigures are from VmRSS samples every 500 ms, and VmHWM.
type RSSFigures struct {
	// SteadyBytes is the median VmRSS over the measured cycles.
	SteadyBytes   uint64 `json:"steadyBytes"`
	QuietMaxBytes uint64 `json:"maxDuringCyclesBytes"`
	QueryMaxBytes uint64 `json:"maxDuringQueriesBytes"`
	// PeakBytes is VmHWM at the end: the peak since exec, startup included.
	PeakBytes uint64 `json:"peakBytes"`
	Samples   int    `json:"samples"`
}

// CPUFigures are utime+stime differences over the measured cycles.
type CPUFigures struct {
	SecondsPerCycle float64   `json:"secondsPerCycle"`
	PerCycleSeconds []float64 `json:"perCycleSeconds"`
	MeasuredCycles  int       `json:"measuredCycles"`
	// ProbeSecondsPerCycle estimates the part of SecondsPerCycle spent
	// answering bench itself (probe GETs and one /metrics read per cycle),
	// from ProbeGetSeconds and MetricsReadSeconds measured while idle
	// (0 when a cycle interfered with that measurement).
	ProbeSecondsPerCycle float64 `json:"probeSecondsPerCycle"`
	ProbeGetSeconds      float64 `json:"probeGetSeconds"`
	MetricsReadSeconds   float64 `json:"metricsReadSeconds"`
}

// CycleDurations are scrape-and-store times, one per cycle.
type CycleDurations struct {
	Source       string       `json:"source"`
	Seconds      []float64    `json:"seconds"`
	Distribution Distribution `json:"distribution"`
	// Overruns counts cycles longer than the resolution.
	Overruns int `json:"overruns"`
}

func (c *CycleDurations) finish(resolution time.Duration) {
	c.Distribution = Summarize(c.Seconds)
	for _, s := range c.Seconds {
		if s > resolution.Seconds() {
			c.Overruns++
		}
	}
}

// Intervals are times between successive changes of the served data.
type Intervals struct {
	Seconds      []float64    `json:"seconds"`
	Distribution Distribution `json:"distribution"`
}

// NodesScraped are kubelet request counter differences per cycle.
type NodesScraped struct {
	PerCycle       []float64 `json:"perCycle"`
	FailedPerCycle []float64 `json:"failedPerCycle"`
	Min            float64   `json:"min"`
	Median         float64   `json:"median"`
	Expected       int       `json:"expected"`
}

func (n *NodesScraped) finish(expected int) {
	d := Summarize(n.PerCycle)
	n.Min, n.Median, n.Expected = d.Min, d.P50, expected
}

// LatencyFigures are one query on one path.
type LatencyFigures struct {
	Query        string       `json:"query"`
	Path         string       `json:"path"`
	URLPath      string       `json:"urlPath"`
	Items        int          `json:"items"`
	Bytes        int64        `json:"bytes"`
	Gzip         bool         `json:"gzip"`
	Seconds      []float64    `json:"seconds"`
	Distribution Distribution `json:"distribution"`
	Errors       int          `json:"errors"`
	LastError    string       `json:"lastError,omitempty"`
}

// QueryPhase is the load the latency samples put on the server.
type QueryPhase struct {
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Requests   int     `json:"requests"`
}

// targets are issue 6's, for the two sizes it names.
type targets struct {
	rssBytes        uint64
	cpuPerCycle     float64
	listAllPodsP50  float64
	firstMetrics    bool
	noOverrun       bool
	applicableLabel string
}

func targetsFor(r *Result) *targets {
	switch {
	case r.Nodes == 1000 && r.PodsPerNode == 30 && r.ContainersPerPod == 2 && r.ResolutionSeconds == 15:
		return &targets{rssBytes: 64 << 20, cpuPerCycle: 0.25, listAllPodsP50: 0.1, firstMetrics: true, applicableLabel: "1,000 × 30 × 2, 15s"}
	case r.Nodes >= 5000:
		return &targets{rssBytes: 200 << 20, noOverrun: true, applicableLabel: "5,000 × 30"}
	}
	return nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// size picks a unit that keeps a few significant digits.
func size(b int64) string {
	switch {
	case b < 1<<10:
		return fmt.Sprintf("%d B", b)
	case b < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
}

func secs(s float64) string {
	switch {
	case s < 0.01:
		return fmt.Sprintf("%.2f ms", s*1000)
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func verdict(ok bool, target string) string {
	if ok {
		return target + "  ok"
	}
	return target + "  MISSED"
}

// WriteTable prints the run as one table.
func (r *Result) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "metrics-server bench: %s %s\n", r.Binary, strings.Join(r.Args, " "))
	fmt.Fprintf(w, "sandbox: %d nodes × %d pods × %d containers (%d pods, %d nodes served), resolution %gs, %d measured cycles%s\n",
		r.Nodes, r.PodsPerNode, r.ContainersPerPod, r.PodsServed, r.NodesServed, r.ResolutionSeconds, r.CPU.MeasuredCycles,
		map[bool]string{true: " (reused a running sandbox)", false: ""}[r.SandboxReused])
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s RAM, kernel %s; load average (1 min) %.2f before cycles, %.2f after, %.2f after queries\n\n",
		m.CPUs, m.CPUModel, mib(m.MemTotalBytes), m.Kernel, m.LoadBefore, m.LoadAfterCycles, m.LoadAfterQueries)

	t := targetsFor(r)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	target := func(f func(*targets) string) string {
		if t == nil {
			return ""
		}
		return f(t)
	}
	fmt.Fprintf(tw, "measure\tvalue\ttarget (issue 6%s)\n", target(func(t *targets) string { return ", " + t.applicableLabel }))
	fmt.Fprintf(tw, "time to first metrics (from exec; %d nodes)\t%s\t%s\n", r.FirstNodesServed, secs(r.TimeToFirstMetricsSeconds),
		target(func(t *targets) string {
			if !t.firstMetrics {
				return ""
			}
			return verdict(r.TimeToFirstMetricsSeconds <= r.ResolutionSeconds, fmt.Sprintf("≤ %gs", r.ResolutionSeconds))
		}))
	fmt.Fprintf(tw, "time to all nodes served / APIService Available\t%s / %s\t\n", allNodesText(r), secs(r.TimeToAvailableSeconds))
	fmt.Fprintf(tw, "RSS steady (median VmRSS over the cycles)\t%s\t%s\n", mib(r.RSS.SteadyBytes),
		target(func(t *targets) string { return verdict(r.RSS.SteadyBytes <= t.rssBytes, "≤ "+mib(t.rssBytes)) }))
	fmt.Fprintf(tw, "RSS max during cycles / during queries\t%s / %s\t\n", mib(r.RSS.QuietMaxBytes), mib(r.RSS.QueryMaxBytes))
	fmt.Fprintf(tw, "RSS peak (VmHWM, startup included)\t%s\t\n", mib(r.RSS.PeakBytes))
	cpu := Summarize(r.CPU.PerCycleSeconds)
	fmt.Fprintf(tw, "CPU per scrape cycle (mean / max)\t%.3f / %.3f s\t%s\n", r.CPU.SecondsPerCycle, cpu.Max,
		target(func(t *targets) string {
			if t.cpuPerCycle == 0 {
				return ""
			}
			return verdict(r.CPU.SecondsPerCycle <= t.cpuPerCycle, fmt.Sprintf("≤ %.2f s", t.cpuPerCycle))
		}))
	fmt.Fprintf(tw, "  of which answering bench (probe GETs, /metrics)	≈ %.3f s	\n", r.CPU.ProbeSecondsPerCycle)
	cd := r.CycleDuration.Distribution
	if cd.N > 0 {
		fmt.Fprintf(tw, "scrape cycle duration p50 / p99 (n=%d, tick histogram)\t%s / %s\t%s\n", cd.N, secs(cd.P50), secs(cd.P99),
			target(func(t *targets) string {
				if !t.noOverrun {
					return ""
				}
				return verdict(r.CycleDuration.Overruns == 0, fmt.Sprintf("none > %gs", r.ResolutionSeconds))
			}))
	} else {
		fmt.Fprintf(tw, "scrape cycle duration\tn/a (%s)\t\n", r.CycleDuration.Source)
	}
	si := r.StoreUpdateInterval.Distribution
	fmt.Fprintf(tw, "served data update interval p50 / max\t%s / %s\t\n", secs(si.P50), secs(si.Max))
	if len(r.NodesScrapedOK.PerCycle) > 0 {
		failed := Summarize(r.NodesScrapedOK.FailedPerCycle)
		fmt.Fprintf(tw, "nodes scraped OK per cycle (min / median; failed max)\t%.0f / %.0f of %d; %.0f\t\n",
			r.NodesScrapedOK.Min, r.NodesScrapedOK.Median, r.NodesScrapedOK.Expected, failed.Max)
	} else {
		fmt.Fprintf(tw, "nodes scraped OK per cycle\tn/a (no %s)\t\n", kubeletRequestMetric)
	}
	for _, l := range r.Latency {
		d := l.Distribution
		value := fmt.Sprintf("%s / %s", secs(d.P50), secs(d.P99))
		if d.N == 0 {
			value = "n/a"
		}
		if l.Errors > 0 {
			value += fmt.Sprintf(" (%d errors: %s)", l.Errors, l.LastError)
		}
		tgt := ""
		if l.Query == "all pods" {
			tgt = target(func(t *targets) string {
				if t.listAllPodsP50 == 0 {
					return ""
				}
				return verdict(d.N > 0 && d.P50 <= t.listAllPodsP50, fmt.Sprintf("p50 ≤ %s", secs(t.listAllPodsP50)))
			})
		}
		fmt.Fprintf(tw, "latency p50 / p99 (n=%d): %s, %s (%d items, %s)\t%s\t%s\n",
			d.N, l.Query, l.Path, l.Items, size(l.Bytes), value, tgt)
	}
	fmt.Fprintf(tw, "CPU during the query phase\t%.2f s in %.0f s (%d requests)\t\n", r.QueryPhase.CPUSeconds, r.QueryPhase.Seconds, r.QueryPhase.Requests)
	return tw.Flush()
}

func readMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				fields := strings.Fields(v)
				if len(fields) > 0 {
					if kb, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
						m.MemTotalBytes = kb * 1024
					}
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

func readLoadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fields[0], 64)
	return v
}
