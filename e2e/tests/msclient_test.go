package tests

// Helpers to talk to metrics-server: through the kube-apiserver (the
// aggregator proxies /apis/metrics.k8s.io/v1beta1/...) or directly to an
// instance's HTTPS address, as different identities; the metrics.k8s.io
// object shapes; extra instances; the instance log and its /metrics.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"metrics-server-rs/e2e/internal/metricsserver"
)

const metricsAPI = "/apis/metrics.k8s.io/v1beta1"

// identity is who a request claims to be: a client certificate, a bearer
// token, extra headers (front-proxy identity headers), or nothing at all.
type identity struct {
	cert    *tls.Certificate
	token   string
	headers map[string]string
}

var anonymous = identity{}

func adminIdentity(t *testing.T) identity { return identity{cert: adminCert(t)} }

// response is one HTTP answer.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// httpsGet sends GET base+path as who. roots verifies the server; nil skips
// verification (an instance's self-signed certificate).
func httpsGet(t *testing.T, base, path string, roots *x509.CertPool, who identity, accept string) response {
	t.Helper()
	r, err := httpsTry(base, path, roots, who, accept)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// httpsTry is httpsGet returning transport errors, for a server that may
// still be starting.
func httpsTry(base, path string, roots *x509.CertPool, who identity, accept string) (response, error) {
	cfg := &tls.Config{RootCAs: roots, InsecureSkipVerify: roots == nil} //nolint:gosec // instances serve a self-signed certificate
	if who.cert != nil {
		cfg.Certificates = []tls.Certificate{*who.cert}
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return response{}, err
	}
	if who.token != "" {
		req.Header.Set("Authorization", "Bearer "+who.token)
	}
	for k, v := range who.headers {
		req.Header.Set(k, v)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s%s: %v", base, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("GET %s%s: reading the body: %v", base, path, err)
	}
	return response{status: resp.StatusCode, body: body, header: resp.Header}, nil
}

func clusterCAPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(env["CLUSTER_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", env["CLUSTER_CA"])
	}
	return pool
}

// apiGet calls the kube-apiserver (which proxies metrics.k8s.io to the registered instance).
func apiGet(t *testing.T, path string, who identity) response {
	t.Helper()
	return httpsGet(t, env["APISERVER_URL"], path, clusterCAPool(t), who, "")
}

// apiGetAccept is apiGet with an Accept header.
func apiGetAccept(t *testing.T, path string, who identity, accept string) response {
	t.Helper()
	return httpsGet(t, env["APISERVER_URL"], path, clusterCAPool(t), who, accept)
}

// directGet calls an instance on its own address, bypassing the aggregator.
func directGet(t *testing.T, instance *metricsserver.Instance, path string, who identity) response {
	t.Helper()
	return httpsGet(t, instance.URL(), path, nil, who, "")
}

// mustJSON decodes a 200 answer or fails.
func mustJSON(t *testing.T, what string, r response, into any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: %s", what, r)
	}
	if err := json.Unmarshal(r.body, into); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, r.body)
	}
}

// metricsList GETs a metrics.k8s.io list through the aggregator as the admin.
func nodeMetricsList(t *testing.T, path string) nodeMetricsListJSON {
	t.Helper()
	var list nodeMetricsListJSON
	mustJSON(t, path, apiGet(t, path, adminIdentity(t)), &list)
	return list
}

func podMetricsList(t *testing.T, path string) podMetricsListJSON {
	t.Helper()
	var list podMetricsListJSON
	mustJSON(t, path, apiGet(t, path, adminIdentity(t)), &list)
	return list
}

// The metrics.k8s.io/v1beta1 objects, with quantities kept as the exact
// strings served (a resource.Quantity would re-canonicalize them).
type metricsObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp"`
	Labels            map[string]string `json:"labels,omitempty"`
}

type nodeMetricsJSON struct {
	Kind       string            `json:"kind,omitempty"`
	APIVersion string            `json:"apiVersion,omitempty"`
	Metadata   metricsObjectMeta `json:"metadata"`
	Timestamp  time.Time         `json:"timestamp"`
	Window     string            `json:"window"`
	Usage      map[string]string `json:"usage"`
}

type containerMetricsJSON struct {
	Name  string            `json:"name"`
	Usage map[string]string `json:"usage"`
}

type podMetricsJSON struct {
	Kind       string                 `json:"kind,omitempty"`
	APIVersion string                 `json:"apiVersion,omitempty"`
	Metadata   metricsObjectMeta      `json:"metadata"`
	Timestamp  time.Time              `json:"timestamp"`
	Window     string                 `json:"window"`
	Containers []containerMetricsJSON `json:"containers"`
}

type nodeMetricsListJSON struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   map[string]any    `json:"metadata"`
	Items      []nodeMetricsJSON `json:"items"`
}

type podMetricsListJSON struct {
	Kind       string           `json:"kind"`
	APIVersion string           `json:"apiVersion"`
	Metadata   map[string]any   `json:"metadata"`
	Items      []podMetricsJSON `json:"items"`
}

func (l podMetricsListJSON) find(namespace, name string) (podMetricsJSON, bool) {
	for _, p := range l.Items {
		if p.Metadata.Namespace == namespace && p.Metadata.Name == name {
			return p, true
		}
	}
	return podMetricsJSON{}, false
}

func (l nodeMetricsListJSON) find(name string) (nodeMetricsJSON, bool) {
	for _, n := range l.Items {
		if n.Metadata.Name == name {
			return n, true
		}
	}
	return nodeMetricsJSON{}, false
}

func (l nodeMetricsListJSON) names() []string {
	var out []string
	for _, n := range l.Items {
		out = append(out, n.Metadata.Name)
	}
	return out
}

// statusJSON is a metav1.Status body.
type statusJSON struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Metadata   map[string]any `json:"metadata"`
	Status     string         `json:"status"`
	Message    string         `json:"message"`
	Reason     string         `json:"reason"`
	Details    map[string]any `json:"details,omitempty"`
	Code       int            `json:"code"`
}

// failureStatus is the Status an apiserver writes for an error.
func failureStatus(code int, reason, message string, details map[string]any) statusJSON {
	return statusJSON{Kind: "Status", APIVersion: "v1", Metadata: map[string]any{}, Status: "Failure",
		Message: message, Reason: reason, Details: details, Code: code}
}

// expectStatus checks the HTTP code and that the body is exactly that Status.
func expectStatus(t *testing.T, what string, r response, want statusJSON) {
	t.Helper()
	if r.status != want.Code {
		t.Errorf("%s: HTTP %d, want %d; body %s", what, r.status, want.Code, r.body)
		return
	}
	var got statusJSON
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Errorf("%s: body is not a Status: %v\n%s", what, err, r.body)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got Status %+v\nwant Status %+v", what, got, want)
	}
}

// forbiddenList is the 403 Status for listing a cluster-scoped metrics resource.
func forbiddenList(user, resource string) statusJSON {
	return failureStatus(403, "Forbidden",
		fmt.Sprintf(`%s.metrics.k8s.io is forbidden: User %q cannot list resource %q in API group "metrics.k8s.io" at the cluster scope`, resource, user, resource),
		map[string]any{"group": "metrics.k8s.io", "kind": resource})
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(a, b []byte) (bool, error) {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}

// fixture reads one of the repository's test payloads (crates/testkit/fixtures).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoDir, "crates", "testkit", "fixtures", name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return data
}

// ---- instances ----

// instanceDir is where `sandbox metrics-server start --name N` keeps an instance's files.
func instanceDir(name string) string {
	return filepath.Join(e2eDir, ".run", "metrics-server", name)
}

// startExtraInstance starts another metrics-server with the manifest's
// arguments plus extra, NOT registered with the aggregator (the default
// instance keeps serving the API). It returns once the instance is ready and
// stops it when the test ends.
func startExtraInstance(t *testing.T, name string, extra ...string) *metricsserver.Instance {
	t.Helper()
	wait := startExtraInstanceAsync(t, name, extra...)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	instance, err := metricsserver.Load(instanceDir(name))
	if err != nil {
		t.Fatalf("instance %s: %v", name, err)
	}
	return instance
}

// startExtraInstanceAsync launches `sandbox metrics-server start --no-register`
// and returns at once; wait blocks until the command has finished (the
// instance is ready or failed). The instance is stopped when the test ends.
func startExtraInstanceAsync(t *testing.T, name string, extra ...string) (wait func() error) {
	t.Helper()
	dir := instanceDir(name)
	if old, err := metricsserver.Load(dir); err == nil && processAlive(old.PID) {
		t.Fatalf("instance %s already runs (pid %d)", name, old.PID)
	}
	// A record left by an earlier run must not be mistaken for this instance.
	_ = os.Remove(filepath.Join(dir, "instance.json"))
	args := append([]string{"metrics-server", "start", "--name", name, "--no-register", "--binary", metricsServerBinary, "--"}, extra...)
	cmd := exec.Command(filepath.Join(e2eDir, "sandbox"), args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var result error
	go func() {
		if err := cmd.Wait(); err != nil {
			result = fmt.Errorf("sandbox %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			// The test gave up before the instance was ready: end the start
			// command (our child) rather than waiting out its timeout.
			_ = cmd.Process.Kill()
			<-done
		}
		// Stopped by pid rather than `sandbox metrics-server stop --name`,
		// which also deletes the EndpointSlice of the registered instance.
		if instance, err := metricsserver.Load(dir); err == nil {
			if err := instance.Stop(10 * time.Second); err != nil {
				t.Errorf("stopping instance %s: %v", name, err)
			}
		}
	})
	return func() error {
		<-done
		return result
	}
}

// waitForInstanceRecord waits until a starting instance has written its record.
func waitForInstanceRecord(t *testing.T, name string) *metricsserver.Instance {
	t.Helper()
	var instance *metricsserver.Instance
	eventually(t, 30*time.Second, "instance "+name+" record", func() (bool, string) {
		i, err := metricsserver.Load(instanceDir(name))
		if err != nil {
			return false, err.Error()
		}
		instance = i
		return processAlive(i.PID), fmt.Sprintf("pid %d", i.PID)
	})
	return instance
}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// logSize is the current length of an instance's log, to read only what follows.
func logSize(t *testing.T, instance *metricsserver.Instance) int {
	t.Helper()
	return len(readLog(t, instance, 0))
}

// readLog returns an instance's log from offset on, without colour codes.
func readLog(t *testing.T, instance *metricsserver.Instance, offset int) string {
	t.Helper()
	data, err := os.ReadFile(instance.Log())
	if err != nil {
		t.Fatal(err)
	}
	if offset > len(data) {
		offset = len(data)
	}
	return ansiEscape.ReplaceAllString(string(data[offset:]), "")
}

// selfMetrics reads and parses an instance's /metrics as an authorized identity.
func selfMetrics(t *testing.T, instance *metricsserver.Instance) (map[string]*dto.MetricFamily, response) {
	t.Helper()
	r := directGet(t, instance, "/metrics", adminIdentity(t))
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %s", r)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, r.body)
	}
	return families, r
}

// counterByLabel reads a counter family's values keyed by one label's value.
func counterByLabel(families map[string]*dto.MetricFamily, family, label string) map[string]float64 {
	out := map[string]float64{}
	f, ok := families[family]
	if !ok {
		return out
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
