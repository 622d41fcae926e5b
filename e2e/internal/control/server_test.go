package control

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes/fake"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/kubelet"
	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
	"metrics-server-rs/e2e/internal/workload"
)

// denyAll is a test double: the endpoints under test never reach the kubelets.
type denyAll struct{}

func (denyAll) AuthenticateRequest(*http.Request) (*authenticator.Response, bool, error) {
	return nil, false, nil
}

func (denyAll) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", nil
}

func newTestServer(t *testing.T) (*client.Client, *sim.Model) {
	t.Helper()
	nodes := []workload.NodeInfo{{
		Node:       scenario.Node{Name: "node-1", SamplePeriod: time.Second, Uptime: time.Hour},
		InternalIP: netip.MustParseAddr("127.1.0.1"),
	}}
	bundle, err := pki.Ensure(pki.Plan{Dir: t.TempDir(), Nodes: []pki.NodeIdentity{{Name: "node-1", IPs: []netip.Addr{nodes[0].InternalIP}}}})
	if err != nil {
		t.Fatal(err)
	}
	model := sim.NewModel(0)
	agent, err := workload.New(workload.Config{Client: fake.NewClientset(), Model: model, Nodes: nodes, KubeletPort: 10250})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.RegisterNodes(context.Background()); err != nil {
		t.Fatal(err)
	}
	kp := bundle.KubeletPair("node-1")
	fleet, err := kubelet.New(kubelet.Config{
		Model: model, Port: 0,
		Nodes:         []kubelet.NodeConfig{{Name: "node-1", Addrs: []netip.Addr{nodes[0].InternalIP}, CertFile: kp.Cert, KeyFile: kp.Key}},
		RogueCertFile: bundle.RogueKubelet.Cert, RogueKeyFile: bundle.RogueKubelet.Key,
		Auth: kubelet.Auth{Authenticator: denyAll{}, Authorizer: denyAll{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(func() controlapi.Status { return controlapi.Status{Phase: "ready"} })
	url, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := client.New(url)
	if _, err := c.Summary(context.Background(), ""); !isStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("before the backend: %v", err)
	}
	srv.SetBackend(&Backend{Model: model, Fleet: fleet, Agent: agent, Nodes: nodes})
	return c, model
}

func isStatus(err error, code int) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == code
}

func TestUsageAndSampleRoundTrip(t *testing.T) {
	c, model := newTestServer(t)
	ctx := context.Background()
	if _, err := model.AddPod(sim.PodSpec{PodKey: sim.PodKey{Namespace: "ns", Name: "p"}, UID: "u", Node: "node-1",
		Labels: map[string]string{"app": "p"}, Containers: []sim.ContainerSpec{{Name: "c"}}}, time.Now().Add(-5*time.Second)); err != nil {
		t.Fatal(err)
	}
	q := scenario.MustQuantity("250m")
	res, err := c.SetUsage(ctx, controlapi.UsageRequest{Namespace: "ns", Selector: "app=p", CPU: &q})
	if err != nil || res.Affected != 1 {
		t.Fatalf("set usage: %+v %v", res, err)
	}
	s, err := c.Sample(ctx, client.SampleQuery{Node: "node-1", Namespace: "ns", Pod: "p", Container: "c", At: res.At.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUNanoCores != 250_000_000 || s.CPUText != sim.CPUSecondsText(s.CPUCoreNanoseconds) || s.StartTimeText == "" {
		t.Fatalf("sample: %+v", s)
	}
	if _, err := c.Sample(ctx, client.SampleQuery{Node: "node-1", Namespace: "ns", Pod: "p", Container: "nope"}); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown container: %v", err)
	}
	if _, err := c.SetUsage(ctx, controlapi.UsageRequest{Node: "node-1"}); !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("empty update: %v", err)
	}
	sum, err := c.Summary(ctx, "node-1")
	if err != nil || sum.Pods != 1 || sum.UsageRules != 1 || sum.Nodes[0].InternalIP != "127.1.0.1" {
		t.Fatalf("summary: %+v %v", sum, err)
	}
}

func TestFaultEndpoints(t *testing.T) {
	c, _ := newTestServer(t)
	ctx := context.Background()
	if err := c.SetFaults(ctx, controlapi.Faults{DelaySeconds: 3}, "node-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetFaults(ctx, controlapi.Faults{HTTP500: true}, "node-9"); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown node: %v", err)
	}
	if err := c.SetFaults(ctx, controlapi.Faults{DelaySeconds: -1}, "node-1"); !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("negative delay: %v", err)
	}
	f, err := c.Faults(ctx)
	if err != nil || f["node-1"].DelaySeconds != 3 {
		t.Fatalf("faults: %+v %v", f, err)
	}
	if err := c.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := c.Faults(ctx); len(f) != 0 {
		t.Fatalf("not cleared: %+v", f)
	}
}

func TestAPIServerRestartRequestsAreChecked(t *testing.T) {
	c, _ := newTestServer(t)
	ctx := context.Background()
	// Past the bound: refused before anything stops.
	if _, err := c.RestartAPIServer(ctx, controlapi.MaxAPIServerDowntime+time.Second); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("downtime past the bound: %v, want 400", err)
	}
	// This backend has no kube-apiserver to restart.
	if _, err := c.RestartAPIServer(ctx, time.Second); !isStatus(err, http.StatusNotImplemented) {
		t.Errorf("no kube-apiserver: %v, want 501", err)
	}
}
