package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Comparison is two implementations measured one after the other on the same
// sandbox; it is also the --json document of `bench --compare`.
type Comparison struct {
	Ours  *Result `json:"ours"`
	Other *Result `json:"other"`
}

// Compare measures o.Binary, then other, on one sandbox (started once, and
// stopped at the end when Compare started it, unless o.Keep).
func Compare(ctx context.Context, o Options, other string) (c *Comparison, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	running, err := o.Sandbox.Running(ctx)
	if err != nil {
		return nil, err
	}
	if !running && !o.Keep {
		cleanup := context.WithoutCancel(ctx)
		defer func() {
			o.logf("stopping the sandbox it started (--keep keeps it)")
			if downErr := o.Sandbox.Down(cleanup); downErr != nil && err == nil {
				err = fmt.Errorf("sandbox down: %w", downErr)
			}
		}()
	}
	each := o
	each.Keep = true
	c = &Comparison{}
	o.logf("run 1 of 2: %s", o.Binary)
	if c.Ours, err = Run(ctx, each); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Binary, err)
	}
	each.Binary = other
	o.logf("run 2 of 2: %s", other)
	if c.Other, err = Run(ctx, each); err != nil {
		return nil, fmt.Errorf("%s: %w", other, err)
	}
	return c, nil
}

// ratioTarget is one of issue 12's targets: ours/other at most max.
type ratioTarget struct {
	max   float64
	label string
}

func (t *ratioTarget) verdict(ratio float64, ok bool) string {
	if t == nil {
		return ""
	}
	return verdict(ok && ratio <= t.max, t.label)
}

// comparisonTargets are issue 12's, for 1,000 × 30 × 2 at 15 s.
type comparisonTargets struct {
	cpuPerCycle, rss, listDirect, listAggregator *ratioTarget
	allNodesInOneResolution                      bool
	label                                        string
}

func comparisonTargetsFor(r *Result) comparisonTargets {
	switch {
	case r.Nodes == 1000 && r.PodsPerNode == 30 && r.ContainersPerPod == 2 && r.ResolutionSeconds == 15:
		return comparisonTargets{
			cpuPerCycle:             &ratioTarget{0.1, "≤ 1/10"},
			rss:                     &ratioTarget{1.0 / 15, "≤ 1/15"},
			listDirect:              &ratioTarget{1.0 / 20, "≤ 1/20"},
			listAggregator:          &ratioTarget{0.2, "≤ 1/5"},
			allNodesInOneResolution: true,
			label:                   "1,000 × 30 × 2, 15s",
		}
	case r.Nodes >= 5000:
		return comparisonTargets{rss: &ratioTarget{1.0 / 15, "≤ 1/15"}, label: "5,000 × 30"}
	}
	return comparisonTargets{}
}

// ratio is a/b as "1/x" when below 1 (how much less ours needs), "x×" otherwise.
func ratio(a, b float64) (string, float64, bool) {
	if a <= 0 || b <= 0 {
		return "n/a", 0, false
	}
	r := a / b
	if r < 1 {
		return fmt.Sprintf("1/%.1f", b/a), r, true
	}
	return fmt.Sprintf("%.2f×", r), r, true
}

func latencyOf(r *Result, query, path string) (LatencyFigures, bool) {
	for _, l := range r.Latency {
		if l.Query == query && l.Path == path {
			return l, l.Distribution.N > 0
		}
	}
	return LatencyFigures{}, false
}

// WriteTable prints both runs side by side with ours/other for every figure,
// after each run's own table.
func (c *Comparison) WriteTable(w io.Writer) error {
	for _, r := range []*Result{c.Ours, c.Other} {
		if err := r.WriteTable(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	a, b := c.Ours, c.Other
	t := comparisonTargetsFor(a)
	fmt.Fprintf(w, "side by side on one sandbox (%d nodes × %d pods × %d containers, resolution %gs), run one after the other:\n",
		a.Nodes, a.PodsPerNode, a.ContainersPerPod, a.ResolutionSeconds)
	fmt.Fprintf(w, "  ours:  %s\n  other: %s\n\n", a.Binary, b.Binary)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	targetHeader := "target (issue 12"
	if t.label != "" {
		targetHeader += ", " + t.label
	}
	fmt.Fprintf(tw, "measure\tours\tother\tours/other\t%s)\n", targetHeader)
	row := func(name string, x, y float64, format func(float64) string, target *ratioTarget) {
		text, r, ok := ratio(x, y)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, format(x), format(y), text, target.verdict(r, ok))
	}
	cpu := func(s float64) string { return fmt.Sprintf("%.3f s", s) }
	bytes := func(v float64) string { return mib(uint64(v)) }
	row("CPU per scrape cycle (mean)", a.CPU.SecondsPerCycle, b.CPU.SecondsPerCycle, cpu, t.cpuPerCycle)
	row("RSS steady (median VmRSS over the cycles)", float64(a.RSS.SteadyBytes), float64(b.RSS.SteadyBytes), bytes, t.rss)
	row("RSS peak (VmHWM, startup included)", float64(a.RSS.PeakBytes), float64(b.RSS.PeakBytes), bytes, nil)
	row("time to first metrics (from exec)", a.TimeToFirstMetricsSeconds, b.TimeToFirstMetricsSeconds, secs, nil)
	allNodes := func(r *Result) float64 {
		if r.TimeToAllNodesSeconds == nil {
			return 0
		}
		return *r.TimeToAllNodesSeconds
	}
	allText, _, _ := ratio(allNodes(a), allNodes(b))
	allVerdict := ""
	if t.allNodesInOneResolution {
		allVerdict = verdict(a.TimeToAllNodesSeconds != nil && *a.TimeToAllNodesSeconds <= a.ResolutionSeconds,
			fmt.Sprintf("ours ≤ %gs", a.ResolutionSeconds))
	}
	fmt.Fprintf(tw, "time to all nodes served (from exec)\t%s\t%s\t%s\t%s\n", allNodesText(a), allNodesText(b), allText, allVerdict)
	if cd, od := a.CycleDuration.Distribution, b.CycleDuration.Distribution; cd.N > 0 && od.N > 0 {
		row("scrape cycle duration p50", cd.P50, od.P50, secs, nil)
	}
	if a.NodesScrapedOK.Median > 0 || b.NodesScrapedOK.Median > 0 {
		count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
		row("nodes scraped OK per cycle (median)", a.NodesScrapedOK.Median, b.NodesScrapedOK.Median, count, nil)
	}
	for _, l := range a.Latency {
		other, ok := latencyOf(b, l.Query, l.Path)
		if !ok || l.Distribution.N == 0 {
			fmt.Fprintf(tw, "latency p50: %s, %s\t%s\tn/a\t\t\n", l.Query, l.Path, secs(l.Distribution.P50))
			continue
		}
		var target *ratioTarget
		if l.Query == "all pods" {
			if l.Path == "direct" {
				target = t.listDirect
			} else if l.Path == "aggregator" {
				target = t.listAggregator
			}
		}
		row(fmt.Sprintf("latency p50: %s, %s (%s / %s)", l.Query, l.Path, size(l.Bytes), size(other.Bytes)),
			l.Distribution.P50, other.Distribution.P50, secs, target)
	}
	row("CPU during the query phase", a.QueryPhase.CPUSeconds, b.QueryPhase.CPUSeconds, cpu, nil)
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	if a.PodsServed != b.PodsServed || a.NodesServed != b.NodesServed {
		notes = append(notes, fmt.Sprintf("served different data: ours %d pods/%d nodes, other %d pods/%d nodes",
			a.PodsServed, a.NodesServed, b.PodsServed, b.NodesServed))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nnote: %s\n", strings.Join(notes, "; "))
	}
	return nil
}

func allNodesText(r *Result) string {
	if r.TimeToAllNodesSeconds == nil {
		return "not within 4 resolutions"
	}
	return secs(*r.TimeToAllNodesSeconds)
}
