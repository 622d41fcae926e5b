package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/sim"
)

var epoch = time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)

// tokenAuth is a test double: "Bearer good" is alice, "Bearer viewer" is bob.
type tokenAuth struct{}

func (tokenAuth) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer good":
		return &authenticator.Response{User: &user.DefaultInfo{Name: "alice"}}, true, nil
	case "Bearer viewer":
		return &authenticator.Response{User: &user.DefaultInfo{Name: "bob"}}, true, nil
	}
	return nil, false, nil
}

// allowAlice allows alice everything and bob only nodes/stats.
type allowAlice struct{ seen []authorizer.Attributes }

func (a *allowAlice) Authorize(_ context.Context, attr authorizer.Attributes) (authorizer.Decision, string, error) {
	a.seen = append(a.seen, attr)
	if attr.GetUser().GetName() == "alice" || attr.GetSubresource() == "stats" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

type fixture struct {
	fleet *Fleet
	model *sim.Model
	authz *allowAlice
	now   time.Time
	pki   *pki.Bundle
	addr  netip.Addr
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	addr := netip.MustParseAddr("127.1.200.1")
	bundle, err := pki.Ensure(pki.Plan{Dir: t.TempDir(), Nodes: []pki.NodeIdentity{{Name: "node-1", IPs: []netip.Addr{addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := sim.NewModel(0)
	if err := m.AddNode(sim.NodeSpec{Name: "node-1", BootTime: epoch.Add(-time.Hour), Base: sim.Usage{CPUNanoCores: 1e8, WorkingSetBytes: 1 << 30}, MemoryCapacityBytes: 8 << 30}); err != nil {
		t.Fatal(err)
	}
	_, err = m.AddPod(sim.PodSpec{
		PodKey: sim.PodKey{Namespace: "default", Name: "web"}, UID: "u1", Node: "node-1",
		Containers: []sim.ContainerSpec{
			{Name: "nginx", Usage: sim.Usage{CPUNanoCores: 200_807_775, WorkingSetBytes: 41340928}},
			{Name: "log-shipper", Usage: sim.Usage{CPUNanoCores: 10_002_836, WorkingSetBytes: 19189760}},
		},
	}, epoch.Add(-15*time.Minute+123456789))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{model: m, authz: &allowAlice{}, now: epoch.Add(7500 * time.Millisecond), pki: bundle, addr: addr}
	kp := bundle.KubeletPair("node-1")
	f.fleet, err = New(Config{
		Model: m, Port: 0,
		Nodes:         []NodeConfig{{Name: "node-1", Addrs: []netip.Addr{addr}, CertFile: kp.Cert, KeyFile: kp.Key}},
		RogueCertFile: bundle.RogueKubelet.Cert, RogueKeyFile: bundle.RogueKubelet.Key,
		Auth: Auth{Authenticator: tokenAuth{}, Authorizer: f.authz},
		Now:  func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) get(t *testing.T, path, token string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.TCPAddrFromAddrPort(netip.AddrPortFrom(f.addr, 10250))))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.fleet.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func helpLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "# ") {
			out = append(out, l)
		}
	}
	return out
}

func TestResourceMetricsComeFromTheKubeletCollector(t *testing.T) {
	f := newFixture(t)
	resp := f.get(t, "/metrics/resource", "good")
	text := body(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), promContentType) {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Process-Start-Time-Unix") == "" {
		t.Fatal("no Process-Start-Time-Unix header")
	}
	fixtureText, err := os.ReadFile("../../../crates/testkit/fixtures/kubelet-metrics-resource.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(helpLines(text), "\n"), strings.Join(helpLines(string(fixtureText)), "\n"); got != want {
		t.Fatalf("families differ from a 1.34+ kubelet:\n%s\nwant:\n%s", got, want)
	}
	s, err := f.model.Sample(sim.SampleQuery{Node: "node-1", Namespace: "default", Pod: "web", Container: "nginx", At: f.now})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`container_cpu_usage_seconds_total{container="nginx",namespace="default",pod="web"} %s %d`, sim.CPUSecondsText(s.CPUCoreNanoseconds), s.TimestampMillis),
		fmt.Sprintf(`container_memory_working_set_bytes{container="nginx",namespace="default",pod="web"} %s %d`, sim.BytesText(s.WorkingSetBytes), s.TimestampMillis),
		fmt.Sprintf(`container_start_time_seconds{container="nginx",namespace="default",pod="web"} %s`+"\n", sim.StartTimeText(s.StartTime)),
		"container_memory_working_set_bytes{container=\"nginx\",namespace=\"default\",pod=\"web\"} 4.1340928e+07 1749556807000",
		"resource_scrape_error 0\n",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("missing %q in\n%s", want, text)
		}
	}
	if strings.Contains(text, "\nscrape_error") {
		t.Fatal("deprecated scrape_error shown by an emulated 1.30+ kubelet")
	}
	gz := f.get(t, "/metrics/resource", "good", "Accept-Encoding", "gzip")
	if gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("gzip not honoured")
	}
}

func TestKubeletAuthResponses(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/metrics/resource", "")
	if b := body(t, r); r.StatusCode != 401 || b != "Unauthorized" {
		t.Fatalf("no token: %d %q", r.StatusCode, b)
	}
	r = f.get(t, "/metrics/resource", "viewer")
	if b := body(t, r); r.StatusCode != 403 || b != "Forbidden (user=bob, verb=get, resource=nodes, subresource(s)=[metrics])\n" {
		t.Fatalf("unbound user: %d %q", r.StatusCode, b)
	}
	if r := f.get(t, "/stats/summary", "viewer"); r.StatusCode != 200 {
		t.Fatalf("bob on nodes/stats: %d", r.StatusCode)
	}
	last := f.authz.seen[len(f.authz.seen)-1]
	if last.GetResource() != "nodes" || last.GetName() != "node-1" || last.GetSubresource() != "stats" || last.GetVerb() != "get" {
		t.Fatalf("attributes: %+v", last)
	}
	if r := f.get(t, "/healthz", "good"); body(t, r) != "ok" {
		t.Fatal("healthz")
	}
	counts, _ := f.fleet.Requests("node-1")
	if counts.MetricsResource != 2 || counts.StatsSummary != 1 || counts.Unauthorized != 1 || counts.Forbidden != 1 || counts.Healthz != 1 {
		t.Fatalf("counters: %+v", counts)
	}
}

func TestStatsSummaryShape(t *testing.T) {
	f := newFixture(t)
	full := body(t, f.get(t, "/stats/summary", "good"))
	if !strings.HasPrefix(full, "{\n \"node\": {\n  \"nodeName\": \"node-1\"") || strings.HasSuffix(full, "\n") {
		t.Fatalf("not 1-space indented without trailing newline:\n%.200s", full)
	}
	var s statsapi.Summary
	if err := json.Unmarshal([]byte(full), &s); err != nil {
		t.Fatal(err)
	}
	if s.Node.Fs == nil || len(s.Pods) != 1 || s.Pods[0].Network == nil {
		t.Fatal("full summary lacks fs/network")
	}
	if !regexp.MustCompile(`"time": "2025-06-10T12:00:07Z"`).MatchString(full) {
		t.Fatal("times not truncated to the tick second")
	}
	only := body(t, f.get(t, "/stats/summary?only_cpu_and_memory=true", "good"))
	if strings.Contains(only, `"fs"`) || strings.Contains(only, `"network"`) || !strings.Contains(only, `"usageCoreNanoSeconds"`) {
		t.Fatalf("cpu-and-memory summary has the wrong fields:\n%s", only)
	}
}

func TestDataFaults(t *testing.T) {
	f := newFixture(t)
	set := func(fl controlapi.Faults) {
		t.Helper()
		if err := f.fleet.SetFaults([]string{"node-1"}, fl); err != nil {
			t.Fatal(err)
		}
	}
	set(controlapi.Faults{ScrapeError: true})
	if b := body(t, f.get(t, "/metrics/resource", "good")); !strings.HasSuffix(b, "resource_scrape_error 1\n") || strings.Contains(b, "node_cpu_usage_seconds_total ") {
		t.Fatalf("scrape error:\n%s", b)
	}
	if r := f.get(t, "/stats/summary", "good"); r.StatusCode != 500 || !strings.HasPrefix(body(t, r), "Internal Error: ") {
		t.Fatal("summary did not fail")
	}
	set(controlapi.Faults{OldFormat: true})
	old := body(t, f.get(t, "/metrics/resource", "good"))
	for _, want := range []string{"# HELP node_cpu_usage_seconds_total [ALPHA]", "\nscrape_error 0\n", "node_swap_usage_bytes"} {
		if !strings.Contains(old, want) {
			t.Fatalf("old format lacks %q:\n%s", want, old)
		}
	}
	if strings.Contains(old, "[STABLE]") || strings.Contains(old, "resource_scrape_error") || strings.Contains(old, "container_swap_usage_bytes") {
		t.Fatalf("old format kept new features:\n%s", old)
	}
	if !regexp.MustCompile(`container_start_time_seconds\{container="nginx",namespace="default",pod="web"\} \S+ \d{13}\n`).MatchString(old) {
		t.Fatalf("start time without timestamp:\n%s", old)
	}
	set(controlapi.Faults{MissingCPU: []controlapi.ContainerRef{{Container: "nginx"}}})
	b := body(t, f.get(t, "/metrics/resource", "good"))
	if strings.Contains(b, `container_cpu_usage_seconds_total{container="nginx"`) || !strings.Contains(b, `container_memory_working_set_bytes{container="nginx"`) {
		t.Fatalf("missing CPU fault:\n%s", b)
	}
	set(controlapi.Faults{NotFound: true})
	if r := f.get(t, "/metrics/resource", "good"); r.StatusCode != 404 {
		t.Fatalf("not found: %d", r.StatusCode)
	}
	if r := f.get(t, "/stats/summary", "good"); r.StatusCode != 200 {
		t.Fatalf("404 fault leaked to /stats/summary: %d", r.StatusCode)
	}
	set(controlapi.Faults{HTTP500: true})
	if r := f.get(t, "/metrics/resource", "good"); r.StatusCode != 500 {
		t.Fatalf("500: %d", r.StatusCode)
	}
	set(controlapi.Faults{Unauthorized: true})
	if r := f.get(t, "/metrics/resource", "good"); r.StatusCode != 401 {
		t.Fatalf("401: %d", r.StatusCode)
	}
	set(controlapi.Faults{Forbidden: true})
	if r := f.get(t, "/metrics/resource", "good"); r.StatusCode != 403 || !strings.Contains(body(t, r), "user=alice") {
		t.Fatalf("403: %d", r.StatusCode)
	}
	set(controlapi.Faults{OversizedBytes: 100000})
	if b := body(t, f.get(t, "/metrics/resource", "good")); len(b) != 100000 {
		t.Fatalf("oversized body is %d bytes", len(b))
	}
	set(controlapi.Faults{Garbage: true})
	if b := body(t, f.get(t, "/metrics/resource", "good")); !strings.Contains(b, "garbage") {
		t.Fatal("garbage")
	}
	if got := f.fleet.Faults(); len(got) != 1 || !got["node-1"].Garbage {
		t.Fatalf("faults listing: %+v", got)
	}
	set(controlapi.Faults{})
	if len(f.fleet.Faults()) != 0 {
		t.Fatal("faults not cleared")
	}
}

func TestHangEndsWhenTheFaultIsCleared(t *testing.T) {
	f := newFixture(t)
	if err := f.fleet.SetFaults(nil, controlapi.Faults{Hang: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		r := httptest.NewRequest(http.MethodGet, "/metrics/resource", nil)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.TCPAddrFromAddrPort(netip.AddrPortFrom(f.addr, 10250))))
		r.Header.Set("Authorization", "Bearer good")
		w := httptest.NewRecorder()
		f.fleet.ServeHTTP(w, r)
		done <- w.Code
	}()
	select {
	case <-done:
		t.Fatal("answered while hanging")
	case <-time.After(100 * time.Millisecond):
	}
	if err := f.fleet.SetFaults(nil, controlapi.Faults{}); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 200 {
		t.Fatalf("after the hang: %d", code)
	}
}

func TestTLSServesTheNodeCertificateOrTheRogueOne(t *testing.T) {
	f := newFixture(t)
	if err := f.fleet.Start(); err != nil {
		t.Skipf("cannot listen on %s: %v", f.addr, err)
	}
	defer f.fleet.Close()
	addr := f.fleet.listeners[0].Addr().String()
	caPEM, err := os.ReadFile(f.pki.CA.Cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/healthz", nil)
	req.Header.Set("Authorization", "Bearer good")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body(t, resp) != "ok" || resp.ProtoMajor != 2 {
		t.Fatalf("healthz over %s", resp.Proto)
	}
	if err := f.fleet.SetFaults(nil, controlapi.Faults{WrongCertificate: true}); err != nil {
		t.Fatal(err)
	}
	// A new transport, so the request needs a new handshake (an HTTP/2
	// connection may not be idle yet when its first response is read).
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	if _, err := client.Do(req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong certificate accepted: %v", err)
	}
}
