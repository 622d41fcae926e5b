package sim

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var epoch = time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)

func u64(v uint64) *uint64 { return &v }

func newTestModel(t *testing.T) *Model {
	t.Helper()
	m := NewModel(0)
	err := m.AddNode(NodeSpec{
		Name:                "n1",
		BootTime:            epoch.Add(-time.Hour),
		SamplePeriod:        time.Second,
		Base:                Usage{CPUNanoCores: 100_000_000, WorkingSetBytes: 1 << 30},
		MemoryCapacityBytes: 8 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func addWeb(t *testing.T, m *Model, at time.Time) {
	t.Helper()
	_, err := m.AddPod(PodSpec{
		PodKey: PodKey{Namespace: "default", Name: "web"},
		UID:    "uid-web",
		Node:   "n1",
		Labels: map[string]string{"app": "web"},
		Containers: []ContainerSpec{
			{Name: "nginx", Usage: Usage{CPUNanoCores: 250_000_000, WorkingSetBytes: 40 << 20}},
			{Name: "sidecar", Sidecar: true, Usage: Usage{CPUNanoCores: 10_000_000, WorkingSetBytes: 8 << 20}},
		},
	}, at)
	if err != nil {
		t.Fatal(err)
	}
}

func TestIntegrateIsExactAndDoesNotOverflow(t *testing.T) {
	if got := integrate(250_000_000, int64(1500*time.Millisecond)); got != 375_000_000 {
		t.Fatalf("250m for 1.5s = %d core-ns, want 375000000", got)
	}
	// 64 cores for a year overflows a naive 64-bit product.
	year := int64(365 * 24 * time.Hour)
	if got, want := integrate(64_000_000_000, year), uint64(64*365*24*3600)*1_000_000_000; got != want {
		t.Fatalf("64 cores for a year = %d, want %d", got, want)
	}
}

func TestTicksAreQuantizedWithPhase(t *testing.T) {
	n := &node{period: int64(time.Second), phase: int64(250 * time.Millisecond)}
	cases := map[time.Duration]time.Duration{
		1249 * time.Millisecond: 250 * time.Millisecond,
		1250 * time.Millisecond: 1250 * time.Millisecond,
		2100 * time.Millisecond: 1250 * time.Millisecond,
	}
	for in, want := range cases {
		if got := n.tickAt(epoch.Add(in).UnixNano()); got != epoch.Add(want).UnixNano() {
			t.Errorf("tick of +%v = %v, want +%v", in, time.Unix(0, got).Sub(epoch), want)
		}
	}
}

func TestContainerCPUFollowsRateChangesExactly(t *testing.T) {
	m := newTestModel(t)
	start := epoch.Add(300 * time.Millisecond)
	addWeb(t, m, start)
	// 250m until +2.3s, then 1 core.
	if _, err := m.SetUsage(Target{Namespace: "default", Pod: "web", Container: "nginx"},
		UsageUpdate{CPUNanoCores: u64(1_000_000_000)}, epoch.Add(2300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	s, err := m.Sample(SampleQuery{Node: "n1", Namespace: "default", Pod: "web", Container: "nginx", At: epoch.Add(5500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	// tick at +5s: 2.0s at 0.25 core + 2.7s at 1 core = 3.2 core-seconds
	if s.CPUCoreNanoseconds != 3_200_000_000 {
		t.Fatalf("cpu = %d, want 3200000000", s.CPUCoreNanoseconds)
	}
	if s.TimestampMillis != epoch.Add(5*time.Second).UnixMilli() {
		t.Fatalf("timestamp = %d", s.TimestampMillis)
	}
	if CPUSecondsText(s.CPUCoreNanoseconds) != "3.2" {
		t.Fatalf("text = %q", CPUSecondsText(s.CPUCoreNanoseconds))
	}
	if !s.StartTime.Equal(start) {
		t.Fatalf("start = %v, want %v", s.StartTime, start)
	}
}

func TestPodNotReportedBeforeItsFirstTick(t *testing.T) {
	m := newTestModel(t)
	addWeb(t, m, epoch.Add(300*time.Millisecond))
	sum, err := m.Summary("n1", epoch.Add(900*time.Millisecond), SummaryOptions{CPUAndMemoryOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Pods) != 0 {
		t.Fatalf("pod reported at a tick before it started: %+v", sum.Pods)
	}
	sum, err = m.Summary("n1", epoch.Add(1000*time.Millisecond), SummaryOptions{CPUAndMemoryOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Pods) != 1 || len(sum.Pods[0].Containers) != 2 {
		t.Fatalf("want one pod with two containers, got %+v", sum.Pods)
	}
	if got := *sum.Pods[0].Memory.WorkingSetBytes; got != 48<<20 {
		t.Fatalf("pod working set = %d", got)
	}
}

func TestRestartResetsCounterAndMovesStartTime(t *testing.T) {
	m := newTestModel(t)
	addWeb(t, m, epoch)
	restartAt := epoch.Add(10*time.Second + 500*time.Millisecond)
	st, err := m.RestartContainer(PodKey{Namespace: "default", Name: "web"}, "nginx", restartAt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Containers[0].RestartCount != 1 || !st.Containers[0].StartedAt.Equal(restartAt) {
		t.Fatalf("state after restart: %+v", st.Containers[0])
	}
	before, err := m.Sample(SampleQuery{Node: "n1", Namespace: "default", Pod: "web", Container: "nginx", At: epoch.Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	after, err := m.Sample(SampleQuery{Node: "n1", Namespace: "default", Pod: "web", Container: "nginx", At: epoch.Add(12 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if before.CPUCoreNanoseconds != 2_500_000_000 || before.RestartCount != 0 {
		t.Fatalf("before restart: %+v", before)
	}
	if after.CPUCoreNanoseconds != 375_000_000 || after.RestartCount != 1 || !after.StartTime.Equal(restartAt) {
		t.Fatalf("after restart: %+v", after)
	}
	// The pod counter includes the old instance.
	pod, err := m.Sample(SampleQuery{Node: "n1", Namespace: "default", Pod: "web", At: epoch.Add(12 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if pod.CPUCoreNanoseconds != 12*260_000_000 {
		t.Fatalf("pod cpu = %d, want %d", pod.CPUCoreNanoseconds, 12*260_000_000)
	}
}

func TestNodeCounterStaysMonotonicWhenPodsLeave(t *testing.T) {
	m := newTestModel(t)
	addWeb(t, m, epoch)
	s1, _ := m.Sample(SampleQuery{Node: "n1", At: epoch.Add(10 * time.Second)})
	m.RemovePod(PodKey{Namespace: "default", Name: "web"}, "", epoch.Add(10*time.Second))
	s2, _ := m.Sample(SampleQuery{Node: "n1", At: epoch.Add(20 * time.Second)})
	if s2.CPUCoreNanoseconds <= s1.CPUCoreNanoseconds {
		t.Fatalf("node counter went from %d to %d", s1.CPUCoreNanoseconds, s2.CPUCoreNanoseconds)
	}
	// an hour of base load plus 10s of the pod, then 10s of base load
	want := uint64(3620*100_000_000 + 10*260_000_000)
	if s2.CPUCoreNanoseconds != want {
		t.Fatalf("node cpu = %d, want %d", s2.CPUCoreNanoseconds, want)
	}
	if s2.WorkingSetBytes != 1<<30 {
		t.Fatalf("node working set = %d", s2.WorkingSetBytes)
	}
}

func TestSelectorRuleAppliesToExistingAndFuturePods(t *testing.T) {
	m := newTestModel(t)
	addWeb(t, m, epoch)
	n, err := m.SetUsage(Target{Namespace: "default", Selector: "app=web", Container: "nginx"},
		UsageUpdate{WorkingSetBytes: u64(123456789)}, epoch.Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("touched %d, err %v", n, err)
	}
	_, err = m.AddPod(PodSpec{
		PodKey: PodKey{Namespace: "default", Name: "web-2"}, UID: "u2", Node: "n1",
		Labels:     map[string]string{"app": "web"},
		Containers: []ContainerSpec{{Name: "nginx", Usage: Usage{WorkingSetBytes: 1}}},
	}, epoch.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := m.Pod(PodKey{Namespace: "default", Name: "web-2"})
	if st.Containers[0].Usage.WorkingSetBytes != 123456789 {
		t.Fatalf("future pod did not get the rule: %+v", st.Containers[0])
	}
	if BytesText(123456789) != "1.23456789e+08" {
		t.Fatalf("bytes text = %s", BytesText(123456789))
	}
}

func TestErrorsForUnknownTargets(t *testing.T) {
	m := newTestModel(t)
	if _, err := m.Sample(SampleQuery{Node: "nope"}); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := m.SetUsage(Target{Namespace: "x", Pod: "y"}, UsageUpdate{SwapBytes: u64(1)}, epoch); !errors.Is(err, ErrUnknownPod) {
		t.Fatalf("unknown pod: %v", err)
	}
	if _, err := m.SetUsage(Target{Selector: "a in ("}, UsageUpdate{SwapBytes: u64(1)}, epoch); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("bad selector: %v", err)
	}
	if _, err := m.SetUsage(Target{Node: "n1"}, UsageUpdate{}, epoch); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("empty update: %v", err)
	}
}

// A node's swap is its base swap plus its running containers' swap, as its
// working set is: in the exact sample and in the summary, through a change
// and a pod leaving.
func TestNodeSwapIsBasePlusItsContainers(t *testing.T) {
	m := NewModel(0)
	if err := m.AddNode(NodeSpec{Name: "n1", BootTime: epoch.Add(-time.Hour), SamplePeriod: time.Second,
		Base: Usage{CPUNanoCores: 1, WorkingSetBytes: 1 << 30, SwapBytes: 256 << 20}}); err != nil {
		t.Fatal(err)
	}
	key := PodKey{Namespace: "default", Name: "swapper"}
	if _, err := m.AddPod(PodSpec{
		PodKey: key, UID: "u", Node: "n1", Labels: map[string]string{"app": "swapper"},
		Containers: []ContainerSpec{
			{Name: "app", Usage: Usage{CPUNanoCores: 1, WorkingSetBytes: 1, SwapBytes: 64 << 20}},
			{Name: "helper", Usage: Usage{CPUNanoCores: 1, WorkingSetBytes: 1}},
		},
	}, epoch); err != nil {
		t.Fatal(err)
	}
	// want maps a sample query's pod/container ("" for the node) to its swap.
	check := func(at time.Time, want map[string]uint64) {
		t.Helper()
		for what, swap := range want {
			q := SampleQuery{Node: "n1", At: at}
			if what != "" {
				pod, container, _ := strings.Cut(what, "/")
				q.Namespace, q.Pod, q.Container = key.Namespace, pod, container
			}
			s, err := m.Sample(q)
			if err != nil {
				t.Fatal(err)
			}
			if s.SwapBytes != swap {
				t.Errorf("sample %q at %v: swap %d, want %d", what, at, s.SwapBytes, swap)
			}
		}
		sum, err := m.Summary("n1", at, SummaryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := *sum.Node.Swap.SwapUsageBytes; got != want[""] {
			t.Errorf("summary at %v: node swap %d, want %d", at, got, want[""])
		}
		for _, p := range sum.Pods {
			if got := *p.Swap.SwapUsageBytes; got != want[p.PodRef.Name] {
				t.Errorf("summary at %v: pod swap %d, want %d", at, got, want[p.PodRef.Name])
			}
		}
	}
	check(epoch.Add(time.Second), map[string]uint64{"": 320 << 20, "swapper": 64 << 20, "swapper/app": 64 << 20, "swapper/helper": 0})
	if _, err := m.SetUsage(Target{Namespace: key.Namespace, Pod: key.Name, Container: "app"},
		UsageUpdate{SwapBytes: u64(100 << 20)}, epoch.Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// The earlier tick keeps its values; the next one has the change.
	check(epoch.Add(time.Second), map[string]uint64{"": 320 << 20, "swapper": 64 << 20, "swapper/app": 64 << 20})
	check(epoch.Add(2*time.Second), map[string]uint64{"": 356 << 20, "swapper": 100 << 20, "swapper/app": 100 << 20, "swapper/helper": 0})
	m.RemovePod(key, "", epoch.Add(2500*time.Millisecond))
	check(epoch.Add(3*time.Second), map[string]uint64{"": 256 << 20})
}
