package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseSelfMetrics(t *testing.T) {
	text := strings.Join([]string{
		`# HELP metrics_server_manager_tick_duration_seconds [ALPHA] The total time spent collecting and storing metrics in seconds.`,
		`# TYPE metrics_server_manager_tick_duration_seconds histogram`,
		`metrics_server_manager_tick_duration_seconds_bucket{le="+Inf"} 3`,
		`metrics_server_manager_tick_duration_seconds_sum 4.5`,
		`metrics_server_manager_tick_duration_seconds_count 3`,
		`metrics_server_kubelet_request_duration_seconds_bucket{node="a}b",le="0.005"} 1`,
		`metrics_server_kubelet_request_total{success="false"} 2`,
		`metrics_server_kubelet_request_total{success="true"} 2998 1700000000000`,
		`go_goroutines 12`,
	}, "\n")
	m, err := ParseSelfMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	want := SelfMetrics{TickCount: 3, TickSum: 4.5, HasTick: true, KubeletOK: 2998, KubeletFailed: 2, HasKubelet: true}
	if m != want {
		t.Fatalf("got %+v want %+v", m, want)
	}
	if m, err := ParseSelfMetrics("up 1\n"); err != nil || m.HasTick || m.HasKubelet {
		t.Fatalf("families that are absent were reported: %+v %v", m, err)
	}
	if _, err := ParseSelfMetrics(`metrics_server_kubelet_request_total{success="true" 1`); err == nil {
		t.Fatal("unterminated labels accepted")
	}
}

func TestSummarizeUsesNearestRank(t *testing.T) {
	values := make([]float64, 0, 200)
	for i := 200; i >= 1; i-- {
		values = append(values, float64(i))
	}
	d := Summarize(values)
	if d.N != 200 || d.Min != 1 || d.P50 != 100 || d.P99 != 198 || d.Max != 200 || d.Mean != 100.5 {
		t.Fatalf("%+v", d)
	}
	if small := Summarize([]float64{3, 1, 2}); small.P50 != 2 || small.P99 != 3 {
		t.Fatalf("%+v", small)
	}
	if empty := Summarize(nil); empty.N != 0 {
		t.Fatalf("%+v", empty)
	}
	if values[0] != 200 {
		t.Fatal("Summarize reordered its input")
	}
}

func TestDecodeListAndSingleObjects(t *testing.T) {
	list := `{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[
	  {"metadata":{"name":"p1","namespace":"a"},"timestamp":"2026-01-01T00:00:00Z","window":"15s","containers":[]},
	  {"metadata":{"name":"p2","namespace":"b"},"timestamp":"2026-01-01T00:00:01Z","window":"15s","containers":[]}]}`
	refs, err := decodeList([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[1] != (objectRef{"b", "p2", "2026-01-01T00:00:01Z"}) {
		t.Fatalf("%+v", refs)
	}
	one, err := decodeList([]byte(`{"kind":"NodeMetrics","metadata":{"name":"node-1"},"timestamp":"t1","window":"15s","usage":{}}`))
	if err != nil || len(one) != 1 || one[0].Name != "node-1" || one[0].Timestamp != "t1" {
		t.Fatalf("%+v %v", one, err)
	}
	if _, err := decodeList([]byte(`{"items":[]}`)); err == nil {
		t.Fatal("a document without kind was accepted")
	}
	if _, err := decodeList([]byte(`<html>`)); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestRSSFiguresSplitSamplesByPhase(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := &rssSampler{}
	for i, mb := range []uint64{90, 10, 30, 20, 50, 70} {
		s.samples = append(s.samples, rssSample{t0.Add(time.Duration(i) * time.Second), mb << 20})
	}
	quiet := [2]time.Time{t0.Add(1 * time.Second), t0.Add(3 * time.Second)}
	queries := [2]time.Time{t0.Add(4 * time.Second), t0.Add(5 * time.Second)}
	f := s.figures(quiet, queries, 95<<20)
	want := RSSFigures{SteadyBytes: 20 << 20, QuietMaxBytes: 30 << 20, QueryMaxBytes: 70 << 20, PeakBytes: 95 << 20, Samples: 6}
	if f != want {
		t.Fatalf("got %+v want %+v", f, want)
	}
}

func TestTableJudgesTheIssueTargets(t *testing.T) {
	r := &Result{
		Nodes: 1000, PodsPerNode: 30, ContainersPerPod: 2, ResolutionSeconds: 15, Cycles: 5,
		TimeToFirstMetricsSeconds: 16,
		RSS:                       RSSFigures{SteadyBytes: 40 << 20},
		CPU:                       CPUFigures{SecondsPerCycle: 0.3, PerCycleSeconds: []float64{0.3}},
		Latency: []LatencyFigures{{Query: "all pods", Path: "direct", Items: 30001,
			Distribution: Summarize([]float64{0.05, 0.07})}},
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"≤ 15s  MISSED", "≤ 64.0 MiB  ok", "≤ 0.25 s  MISSED", "p50 ≤ 100.0 ms  ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	r.Nodes = 100
	b.Reset()
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "MISSED") || strings.Contains(b.String(), "  ok") {
		t.Errorf("targets judged at a size the issue names none for:\n%s", b.String())
	}
}

func TestSoakTableComparesTheLastMinutesWithTheEarlyOnes(t *testing.T) {
	r := &SoakResult{Nodes: 2, PodsPerNode: 1, ContainersPerPod: 1, Duration: 10 * time.Minute}
	for m := 1; m <= 10; m++ {
		// Minutes 1–2 fill the history; 3–7 sit at 100 MiB, the last five at 110 MiB.
		rss := uint64(100 << 20)
		switch {
		case m <= 2:
			rss = 50 << 20
		case m >= 6:
			rss = 110 << 20
		}
		r.Minutes = append(r.Minutes, SoakPoint{Minute: m, RSSBytes: rss})
	}
	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	want := "RSS median minutes 3–7: 100.0 MiB; last five minutes: 110.0 MiB; change +10.0%"
	if !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
}

func TestComparisonPrintsRatiosAndJudgesIssue12Targets(t *testing.T) {
	result := func(binary string, cpu float64, rss uint64, allPods float64) *Result {
		allNodes := 12.0
		return &Result{
			Binary: binary, Nodes: 1000, PodsPerNode: 30, ContainersPerPod: 2, ResolutionSeconds: 15, Cycles: 5,
			PodsServed: 30001, NodesServed: 1000, TimeToFirstMetricsSeconds: 12, TimeToAllNodesSeconds: &allNodes,
			RSS: RSSFigures{SteadyBytes: rss},
			CPU: CPUFigures{SecondsPerCycle: cpu, PerCycleSeconds: []float64{cpu}},
			Latency: []LatencyFigures{
				{Query: "all pods", Path: "direct", Items: 30001, Distribution: Summarize([]float64{allPods})},
				{Query: "all pods", Path: "aggregator", Items: 30001, Distribution: Summarize([]float64{allPods * 2})},
			},
		}
	}
	c := &Comparison{
		Ours:  result("ours", 0.1, 30<<20, 0.01),
		Other: result("go", 1.2, 600<<20, 0.3),
	}
	var b strings.Builder
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for prefix, wants := range map[string][]string{
		"CPU per scrape cycle":              {"1/12.0", "≤ 1/10  ok"},
		"RSS steady":                        {"1/20.0", "≤ 1/15  ok"},
		"latency p50: all pods, direct":     {"1/30.0", "≤ 1/20  ok"},
		"latency p50: all pods, aggregator": {"1/30.0", "≤ 1/5  ok"},
		"time to all nodes served":          {"ours ≤ 15s  ok"},
	} {
		row := lineStarting(out, prefix)
		for _, want := range wants {
			if !strings.Contains(row, want) {
				t.Errorf("row %q lacks %q:\n%s", prefix, want, out)
			}
		}
	}
	// Ours needing more than the other is a ratio above 1, and a miss.
	c.Ours.CPU.SecondsPerCycle = 2.4
	b.Reset()
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if row := lineStarting(b.String(), "CPU per scrape cycle"); !strings.Contains(row, "2.00×") || !strings.Contains(row, "≤ 1/10  MISSED") {
		t.Errorf("CPU row: %q", row)
	}
}

// lineStarting is the last line of out that starts with prefix (the
// side-by-side table comes after each run's own table).
func lineStarting(out, prefix string) string {
	var found string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			found = line
		}
	}
	return found
}
