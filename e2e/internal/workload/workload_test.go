package workload

import (
	"context"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
)

func TestUsageComesFromTheAnnotationThenRequests(t *testing.T) {
	tmpl := podTemplate(map[string]string{"app": "x"},
		[]scenario.Container{
			{Name: "app", Requests: scenario.ResourceList{"cpu": scenario.MustQuantity("200m"), "memory": scenario.MustQuantity("64Mi")},
				Usage: scenario.UsageSpec{CPU: ptr(scenario.MustQuantity("75m"))}},
			{Name: "plain", Requests: scenario.ResourceList{"cpu": scenario.MustQuantity("1"), "memory": scenario.MustQuantity("1Gi")}},
		},
		[]scenario.Container{{Name: "init"}, {Name: "proxy", Sidecar: true, Usage: scenario.UsageSpec{Memory: ptr(scenario.MustQuantity("20Mi"))}}})
	pod := &v1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	got := simContainers(pod)
	if len(got) != 3 {
		t.Fatalf("want sidecar + 2 containers (finished init container excluded), got %+v", got)
	}
	want := map[string]sim.Usage{
		"proxy": {CPUNanoCores: defaultCPUNanoCores, WorkingSetBytes: 20 << 20},
		"app":   {CPUNanoCores: 75_000_000, WorkingSetBytes: 32 << 20},
		"plain": {CPUNanoCores: 500_000_000, WorkingSetBytes: 512 << 20},
	}
	for _, c := range got {
		if c.Usage != want[c.Name] {
			t.Errorf("%s: usage %+v, want %+v", c.Name, c.Usage, want[c.Name])
		}
	}
	if !got[0].Sidecar {
		t.Error("sidecar not flagged")
	}
}

func TestSlimPodKeepsWhatTheAgentNeeds(t *testing.T) {
	tmpl := podTemplate(map[string]string{"app": "x"},
		[]scenario.Container{{Name: "app", Requests: scenario.ResourceList{"cpu": scenario.MustQuantity("300m")},
			Limits: scenario.ResourceList{"memory": scenario.MustQuantity("1Gi")}}},
		[]scenario.Container{{Name: "proxy", Sidecar: true}})
	pod := &v1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name, pod.Namespace, pod.UID, pod.Spec.NodeName = "p", "ns", "u", "n"
	obj, err := slimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	slim := obj.(*v1.Pod)
	if slim.Spec.Containers[0].Resources.Requests != nil || slim.Spec.NodeName != "n" || slim.UID != "u" {
		t.Fatalf("slim pod: %+v", slim)
	}
	got, want := cachedSimContainers(slim), simContainers(pod)
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || got[1].MemoryLimitBytes != 1<<30 {
		t.Fatalf("cached containers %+v, want %+v", got, want)
	}
}

func TestRunningStatusReportsInitContainersAsAKubelet(t *testing.T) {
	tmpl := podTemplate(nil, []scenario.Container{{Name: "app"}},
		[]scenario.Container{{Name: "init"}, {Name: "proxy", Sidecar: true}})
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: tmpl.Spec}
	now := time.Now()
	st := sim.PodState{StartedAt: now, Containers: []sim.ContainerState{
		{Name: "proxy", Sidecar: true, StartedAt: now},
		{Name: "app", StartedAt: now.Add(time.Second), RestartCount: 2, PreviousStartedAt: now, PreviousFinishedAt: now},
	}}
	node := &nodeState{info: NodeInfo{Node: scenario.Node{Name: "n"}, InternalIP: netip.MustParseAddr("127.1.0.1")}}
	s := runningStatus(pod, node, st, netip.MustParseAddr("10.64.0.2"))
	if s.Phase != v1.PodRunning || len(s.Conditions) != 5 || s.PodIP != "10.64.0.2" || s.HostIP != "127.1.0.1" {
		t.Fatalf("status: %+v", s)
	}
	if s.InitContainerStatuses[0].State.Terminated == nil || s.InitContainerStatuses[0].State.Terminated.Reason != "Completed" {
		t.Fatalf("init container: %+v", s.InitContainerStatuses[0])
	}
	if s.InitContainerStatuses[1].State.Running == nil || !*s.InitContainerStatuses[1].Started {
		t.Fatalf("sidecar: %+v", s.InitContainerStatuses[1])
	}
	app := s.ContainerStatuses[0]
	if app.RestartCount != 2 || app.LastTerminationState.Terminated == nil || app.ContainerID == app.LastTerminationState.Terminated.ContainerID {
		t.Fatalf("restarted container: %+v", app)
	}
}

// bindingReactor makes the fake clientset honour pods/binding like the apiserver.
func bindingReactor(client *fake.Clientset) clienttesting.ReactionFunc {
	return func(action clienttesting.Action) (bool, runtime.Object, error) {
		create, ok := action.(clienttesting.CreateAction)
		if !ok || action.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := create.GetObject().(*v1.Binding)
		pod, err := client.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := pod.(*v1.Pod).DeepCopy()
		p.Spec.NodeName = b.Target.Name
		return true, b, client.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), p, b.Namespace)
	}
}

func TestAgentBindsRunsAndFinishesDeletion(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "pods", bindingReactor(client))
	model := sim.NewModel(0)
	var nodes []NodeInfo
	for i, name := range []string{"a", "b"} {
		nodes = append(nodes, NodeInfo{
			Node: scenario.Node{Name: name, Index: i, SamplePeriod: time.Second,
				Capacity: scenario.ResourceList{"memory": scenario.MustQuantity("1Gi")}},
			InternalIP: netip.AddrFrom4([4]byte{127, 1, 0, byte(i + 1)}),
		})
	}
	agent, err := New(Config{Client: client, Model: model, Nodes: nodes, KubeletPort: 10250, KubeletVersion: "v1.36.3", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := agent.RegisterNodes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"p1", "p2"} {
		if _, err := agent.CreatePod(ctx, scenario.Pod{Namespace: "default", Name: name,
			Containers: []scenario.Container{{Name: "c", Requests: scenario.ResourceList{"cpu": {Quantity: resource.MustParse("100m")}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return model.Counts().Pods == 2 })
	if model.PodsOnNode("a") != 1 || model.PodsOnNode("b") != 1 {
		t.Fatalf("pods not spread: a=%d b=%d", model.PodsOnNode("a"), model.PodsOnNode("b"))
	}
	waitFor(t, func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
		return err == nil && p.Status.Phase == v1.PodRunning && len(p.Status.ContainerStatuses) == 1
	})
	// A graceful deletion (deletionTimestamp set) is finished by the agent.
	p, _ := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
		return err != nil && model.Counts().Pods == 1
	})
	// Pinned scenario pods are started by their creation worker directly.
	if err := agent.CreateWorkload(ctx, &scenario.Resolved{Pods: []scenario.Pod{
		{Namespace: "team", Name: "pinned", Node: "b", Containers: []scenario.Container{{Name: "c"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if !model.HasPod(sim.PodKey{Namespace: "team", Name: "pinned"}, "") {
		t.Fatal("pinned pod not started by its creation worker")
	}
	pinned, err := client.CoreV1().Pods("team").Get(ctx, "pinned", metav1.GetOptions{})
	if err != nil || pinned.Status.Phase != v1.PodRunning || pinned.Status.HostIP != "127.1.0.2" {
		t.Fatalf("pinned pod: %v %+v", err, pinned.Status)
	}
	node, err := client.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
	if err != nil || node.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || node.Status.Addresses[0].Address != "127.1.0.2" {
		t.Fatalf("node b: %v %+v", err, node)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A node with swap reports its capacity in status.nodeInfo.swap, as a kubelet
// with swap on does, and its base swap usage; a node without swap has neither.
func TestNodesReportTheirSwap(t *testing.T) {
	client := fake.NewClientset()
	model := sim.NewModel(0)
	nodes := []NodeInfo{
		{Node: scenario.Node{Name: "swap", Index: 0, Uptime: time.Hour, SwapCapacityBytes: 4 << 30,
			Base: sim.Usage{CPUNanoCores: 1, WorkingSetBytes: 1 << 30, SwapBytes: 256 << 20}},
			InternalIP: netip.MustParseAddr("127.1.0.1")},
		{Node: scenario.Node{Name: "plain", Index: 1, Uptime: time.Hour, Base: sim.Usage{CPUNanoCores: 1, WorkingSetBytes: 1 << 30}},
			InternalIP: netip.MustParseAddr("127.1.0.2")},
	}
	agent, err := New(Config{Client: client, Model: model, Nodes: nodes, KubeletPort: 10250, KubeletVersion: "v1.36.3", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := agent.RegisterNodes(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]int64{"swap": {4 << 30, 256 << 20}, "plain": {-1, 0}} {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		capacity := int64(-1)
		if sw := node.Status.NodeInfo.Swap; sw != nil {
			if sw.Capacity == nil {
				t.Fatalf("%s: nodeInfo.swap without a capacity", name)
			}
			capacity = *sw.Capacity
		}
		s, err := model.Sample(sim.SampleQuery{Node: name})
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]int64{capacity, int64(s.SwapBytes)}; got != want {
			t.Errorf("%s: swap capacity (-1: none) and usage %v, want %v", name, got, want)
		}
	}
}
