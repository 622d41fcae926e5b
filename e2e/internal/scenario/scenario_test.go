package scenario

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShippedScenarioFilesResolve(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files found: %v", err)
	}
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r, err := s.Resolve()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(r.Nodes) == 0 || r.ExpectedPods == 0 {
			t.Fatalf("%s: resolved to %d nodes, %d pods", f, len(r.Nodes), r.ExpectedPods)
		}
	}
}

func TestDefaultScenarioMatchesTheShippedFile(t *testing.T) {
	fromFile, err := Load("../../scenarios/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := fromFile.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Default(3, 2).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Nodes) != len(b.Nodes) || len(a.Pods) != len(b.Pods) || a.ExpectedPods != b.ExpectedPods {
		t.Fatalf("default.yaml (%d nodes, %d pods) differs from Default(3,2) (%d nodes, %d pods)",
			len(a.Nodes), len(a.Pods), len(b.Nodes), len(b.Pods))
	}
	// Everything else too (quantities compare by their canonical text).
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ja) != string(jb) {
		t.Fatalf("default.yaml resolves to\n%s\nDefault(3,2) to\n%s", ja, jb)
	}
}

// The default scenario's swap: node-1 and node-2 have swap (capacity and a
// base usage), node-3 has none, and the swap pods run on node-1.
func TestDefaultScenarioGivesSomeNodesAndPodsSwap(t *testing.T) {
	r, err := Default(3, 2).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]uint64{"node-1": {4 << 30, 256 << 20}, "node-2": {4 << 30, 256 << 20}, "node-3": {0, 0}}
	for _, n := range r.Nodes {
		if got := [2]uint64{n.SwapCapacityBytes, n.Base.SwapBytes}; got != want[n.Name] {
			t.Errorf("%s: swap capacity and base usage %v, want %v", n.Name, got, want[n.Name])
		}
	}
	var swapPods []string
	for _, p := range r.Pods {
		for _, c := range p.Containers {
			if c.Usage.Usage().SwapBytes > 0 {
				swapPods = append(swapPods, p.Namespace+"/"+p.Name+"@"+p.Node)
				break
			}
		}
	}
	if strings.Join(swapPods, ",") != "default/swap-demo-1@node-1,default/swap-demo-2@node-1" {
		t.Errorf("pods with swap: %v", swapPods)
	}
	// Fewer nodes than swap.count: all of them have swap.
	r, err = Default(1, 0).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Nodes) != 1 || r.Nodes[0].SwapCapacityBytes != 4<<30 || len(r.Pods) != 2 {
		t.Errorf("Default(1, 0): nodes %+v, %d pods", r.Nodes, len(r.Pods))
	}
}

func TestNodeSwap(t *testing.T) {
	s, err := Parse([]byte(`
nodes:
  - {namePrefix: s-, count: 2, swap: {capacity: 1Gi}}
  - {namePrefix: h-, count: 3, baseUsage: {swap: 1Mi}}
  - {name: one, swap: {count: 5, capacity: 2Gi, baseUsage: 1Gi}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range r.Nodes {
		got = append(got, fmt.Sprintf("%s:%d/%d", n.Name, n.SwapCapacityBytes, n.Base.SwapBytes))
	}
	// swap without a count: every node of the group; baseUsage.swap alone: no capacity.
	if want := "s-1:1073741824/0 s-2:1073741824/0 h-1:0/1048576 h-2:0/1048576 h-3:0/1048576 one:2147483648/1073741824"; strings.Join(got, " ") != want {
		t.Errorf("nodes %s, want %s", strings.Join(got, " "), want)
	}
	for _, bad := range []string{
		"nodes: [{count: 1, swap: {count: 1}}]",
		"nodes: [{count: 1, swap: {capacity: 0}}]",
		"nodes: [{count: 1, swap: {count: -1, capacity: 1Gi}}]",
		"nodes: [{count: 1, swap: {capacity: 1Gi, baseUsage: 2Gi}}]",
		"nodes: [{count: 1, baseUsage: {swap: 1Mi}, swap: {capacity: 1Gi}}]",
	} {
		s, err := Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Resolve(); err == nil {
			t.Errorf("accepted: %s", bad)
		}
	}
}

func TestOverridesAndExpansion(t *testing.T) {
	s, err := Parse([]byte(`
nodes:
  - namePrefix: w-
    count: 1
    samplePeriod: 2s
    spreadPhases: true
  - name: special
pods:
  - namePrefix: f
    perNode: 1
    namespaces: [a, b]
  - name: solo
    namespace: c
    node: special
    containers: [{name: main, usage: {cpu: 0.25, memory: 1048576}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyOverrides(4, 3)
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Nodes) != 5 || r.Nodes[4].Name != "special" {
		t.Fatalf("nodes: %+v", r.Nodes)
	}
	if r.Nodes[1].SamplePhase != 500*time.Millisecond || r.Nodes[1].SamplePeriod != 2*time.Second {
		t.Fatalf("phase/period of w-2: %v %v", r.Nodes[1].SamplePhase, r.Nodes[1].SamplePeriod)
	}
	if len(r.Pods) != 5*3+1 || r.ExpectedPods != 16 {
		t.Fatalf("pods: %d expected %d", len(r.Pods), r.ExpectedPods)
	}
	if strings.Join(r.Namespaces, ",") != "a,b,c" {
		t.Fatalf("namespaces: %v", r.Namespaces)
	}
	solo := r.Pods[len(r.Pods)-1]
	u := solo.Containers[0].Usage.Usage()
	if solo.Node != "special" || u.CPUNanoCores != 250_000_000 || u.WorkingSetBytes != 1<<20 {
		t.Fatalf("solo pod: %+v usage %+v", solo, u)
	}
}

func TestRejectsTyposAndBadNames(t *testing.T) {
	if _, err := Parse([]byte("nodes: [{count: 1, lables: {a: b}}]")); err == nil {
		t.Fatal("unknown field accepted")
	}
	s, err := Parse([]byte("nodes: [{name: Bad_Name}]"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(); err == nil {
		t.Fatal("invalid node name accepted")
	}
}

func TestContainersPerPodGeneratesExactlyThatMany(t *testing.T) {
	s, err := Parse([]byte(`
nodes: [{count: 2}]
pods: [{namePrefix: f, perNode: 3, containersPerPod: 3}, {namePrefix: g, perNode: 30}]
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int{}
	for _, p := range r.Pods {
		if strings.HasPrefix(p.Name, "f-") {
			names := []string{}
			for _, c := range p.Containers {
				names = append(names, c.Name)
			}
			if got := strings.Join(names, ","); got != "app,log-shipper,helper-2" {
				t.Fatalf("%s: containers %s", p.Name, got)
			}
			continue
		}
		sizes[len(p.Containers)]++
	}
	if sizes[1] == 0 || sizes[2] == 0 || len(sizes) != 2 {
		t.Fatalf("without containersPerPod, pods should get one or two containers: %v", sizes)
	}
	for _, bad := range []string{
		"nodes: [{count: 1}]\npods: [{perNode: 1, containersPerPod: -1}]",
		"nodes: [{count: 1}]\npods: [{perNode: 1, containersPerPod: 2, containers: [{name: a}]}]",
	} {
		s, err := Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Resolve(); err == nil {
			t.Fatalf("accepted: %s", bad)
		}
	}
}
