package tests

// Upstream metrics-server behaviours of the API surface: discovery, errors,
// Table, health checks and self-metrics.

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

const aggregatedDiscoveryAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func TestDiscoveryDocumentsEqualTheFixtures(t *testing.T) {
	admin := adminIdentity(t)
	for _, tc := range []struct {
		where, path, accept, fixture string
	}{
		{"direct", "/apis", "", "discovery-apis.json"},
		{"direct", "/apis/metrics.k8s.io", "", "discovery-apis-metrics.k8s.io.json"},
		{"direct", "/apis/metrics.k8s.io/v1beta1", "", "discovery-apis-metrics.k8s.io-v1beta1.json"},
		{"direct", "/apis", aggregatedDiscoveryAccept, "discovery-apis-aggregated-v2.json"},
		// The aggregator proxies the group version and serves the group itself.
		{"aggregator", "/apis/metrics.k8s.io/v1beta1", "", "discovery-apis-metrics.k8s.io-v1beta1.json"},
		{"aggregator", "/apis/metrics.k8s.io", "", "discovery-apis-metrics.k8s.io.json"},
		// v1 (KEP-5207): the same resources under their own group version.
		{"direct", "/apis/metrics.k8s.io/v1", "", "discovery-apis-metrics.k8s.io-v1beta1.json"},
		{"aggregator", "/apis/metrics.k8s.io/v1", "", "discovery-apis-metrics.k8s.io-v1beta1.json"},
	} {
		t.Run(tc.where+" "+tc.path+" "+tc.accept, func(t *testing.T) {
			var r response
			if tc.where == "direct" {
				r = httpsGet(t, defaultInstance.URL(), tc.path, nil, admin, tc.accept)
			} else {
				r = apiGetAccept(t, tc.path, admin, tc.accept)
			}
			if r.status != http.StatusOK {
				t.Fatalf("%s", r)
			}
			// Upstream's documents name v1beta1 only; this server adds v1 as the preferred version.
			want := fixture(t, tc.fixture)
			switch {
			case strings.HasSuffix(tc.path, "/v1"):
				want = []byte(strings.ReplaceAll(string(want), "v1beta1", "v1"))
			case !strings.HasSuffix(tc.path, "/v1beta1"):
				want = withV1(t, tc.fixture)
			}
			if ok, err := jsonEqual(r.body, want); err != nil || !ok {
				t.Errorf("%s differs from %s (%v):\n%s", tc.path, tc.fixture, err, r.body)
			}
			wantType := "application/json"
			if tc.accept != "" {
				wantType = tc.accept
			}
			if got := r.header.Get("Content-Type"); got != wantType {
				t.Errorf("Content-Type %q, want %q", got, wantType)
			}
		})
	}
}

func TestErrorsAreUpstreamStatuses(t *testing.T) {
	admin := adminIdentity(t)
	get := func(path string) response { return apiGet(t, path, admin) }

	expectStatus(t, "unknown node", get(metricsAPI+"/nodes/e2e-no-such-node"),
		failureStatus(404, "NotFound", `node "e2e-no-such-node" not found`, map[string]any{"name": "e2e-no-such-node", "kind": "node"}))
	expectStatus(t, "unknown pod", get(metricsAPI+"/namespaces/default/pods/e2e-no-such-pod"),
		failureStatus(404, "NotFound", `pods "e2e-no-such-pod" not found`, map[string]any{"name": "e2e-no-such-pod", "kind": "pods"}))
	if _, stderr, err := (kubectlBinary{path: "kubectl"}).run("top", "node", "e2e-no-such-node"); err == nil ||
		strings.TrimSpace(stderr) != `Error from server (NotFound): node "e2e-no-such-node" not found` {
		t.Errorf("kubectl top node e2e-no-such-node: %v %q", err, stderr)
	}

	for _, resource := range []struct{ path, kind, kindName string }{
		{metricsAPI + "/nodes", "nodes", "NodeMetrics"},
		{metricsAPI + "/namespaces/default/pods", "pods", "PodMetrics"},
		{metricsAPI + "/pods", "pods", "PodMetrics"},
	} {
		// Watch is served here (upstream answers 405): a stream of events, ended by timeoutSeconds.
		if w := get(resource.path + "?watch=true&timeoutSeconds=1"); w.status != http.StatusOK ||
			w.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(w.body), `{"type":"ADDED","object":{"kind":"`+resource.kindName+`"`) {
			t.Errorf("watch %s: %s", resource.path, w)
		}
		// Pods may be selected by spec.nodeName, nodes only by metadata.
		unknownField, known := "spec.nodeName=node-1", `only "metadata.name", "metadata.namespace"`
		if resource.kind == "pods" {
			unknownField, known = "status.phase=Running", `only "metadata.name", "metadata.namespace", "spec.nodeName"`
		}
		field, _, _ := strings.Cut(unknownField, "=")
		expectStatus(t, "unknown fieldSelector on "+resource.path, get(resource.path+"?fieldSelector="+url.QueryEscape(unknownField)),
			failureStatus(400, "BadRequest", `"`+field+`" is not a known field selector: `+known, nil))
		// The direct answer pins it on metrics-server, not the aggregator.
		r := directGet(t, defaultInstance, resource.path+"?labelSelector="+url.QueryEscape("app in (filler"), admin)
		var status statusJSON
		if err := json.Unmarshal(r.body, &status); err != nil || r.status != http.StatusBadRequest || status.Code != 400 ||
			status.Reason != "BadRequest" || status.Kind != "Status" || status.Status != "Failure" || status.Message == "" {
			t.Errorf("bad labelSelector on %s: %s", resource.path, r)
		}
		if via := get(resource.path + "?labelSelector=" + url.QueryEscape("app in (filler")); via.status != r.status || string(via.body) != string(r.body) {
			t.Errorf("bad labelSelector through the aggregator: %s, direct %s", via, r)
		}
	}
}

type tableJSON struct {
	Kind              string           `json:"kind"`
	APIVersion        string           `json:"apiVersion"`
	Metadata          map[string]any   `json:"metadata"`
	ColumnDefinitions []map[string]any `json:"columnDefinitions"`
	Rows              []struct {
		Cells  []string `json:"cells"`
		Object struct {
			Kind       string            `json:"kind"`
			APIVersion string            `json:"apiVersion"`
			Metadata   metricsObjectMeta `json:"metadata"`
		} `json:"object"`
	} `json:"rows"`
}

func TestServerSideTable(t *testing.T) {
	const accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
	type row struct {
		cells                []string
		name, namespace      string
		labels, objectLabels map[string]string
	}
	check := func(t *testing.T, table tableJSON, want []row) {
		t.Helper()
		if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" || len(table.Metadata) != 0 {
			t.Errorf("envelope %s %s %v", table.Kind, table.APIVersion, table.Metadata)
		}
		if !reflect.DeepEqual(table.ColumnDefinitions, wantColumns(t)) {
			t.Errorf("columnDefinitions %v, want %v", table.ColumnDefinitions, wantColumns(t))
		}
		if len(table.Rows) != len(want) {
			t.Fatalf("%d rows, want %d", len(table.Rows), len(want))
		}
		for i, r := range table.Rows {
			o := r.Object
			if !slices.Equal(r.Cells, want[i].cells) || o.Kind != "PartialObjectMetadata" || o.APIVersion != "meta.k8s.io/v1" ||
				o.Metadata.Name != want[i].name || o.Metadata.Namespace != want[i].namespace || !reflect.DeepEqual(o.Metadata.Labels, want[i].labels) {
				t.Errorf("row %d: cells %v object %s %s %+v, want cells %v of %s/%s labels %v",
					i, r.Cells, o.Kind, o.APIVersion, o.Metadata, want[i].cells, want[i].namespace, want[i].name, want[i].labels)
			}
		}
	}

	t.Run("nodes", func(t *testing.T) {
		var table tableJSON
		eventually(t, 2*defaultResolution, "a table read between two equal lists", func() (bool, string) {
			list, err := stableNodeList(t, func() error {
				table = tableJSON{}
				return json.Unmarshal(apiGetAccept(t, metricsAPI+"/nodes", adminIdentity(t), accept).body, &table)
			})
			if err != nil {
				return false, err.Error()
			}
			var rows []row
			for _, n := range list.Items {
				rows = append(rows, row{cells: []string{n.Metadata.Name, n.Usage["cpu"], n.Usage["memory"], n.Window}, name: n.Metadata.Name, labels: n.Metadata.Labels})
			}
			check(t, table, rows)
			return true, ""
		})
	})
	t.Run("pods", func(t *testing.T) {
		var table tableJSON
		eventually(t, 2*defaultResolution, "a table read between two equal lists", func() (bool, string) {
			list, err := stablePodList(t, func() error {
				table = tableJSON{}
				return json.Unmarshal(apiGetAccept(t, metricsAPI+"/pods", adminIdentity(t), accept).body, &table)
			})
			if err != nil {
				return false, err.Error()
			}
			var rows []row
			for _, p := range list.Items {
				cpu, memory := summedUsage(t, p)
				// Cells hold the pod name only; the namespace is in the object.
				rows = append(rows, row{cells: []string{p.Metadata.Name, cpu, memory, p.Window}, name: p.Metadata.Name,
					namespace: p.Metadata.Namespace, labels: p.Metadata.Labels})
			}
			check(t, table, rows)
			return true, ""
		})
	})
}

// wantColumns are the Table columns of metrics-server (fixture metrics-nodes-table.json).
func wantColumns(t *testing.T) []map[string]any {
	var fixtureTable tableJSON
	if err := json.Unmarshal(fixture(t, "metrics-nodes-table.json"), &fixtureTable); err != nil {
		t.Fatal(err)
	}
	return fixtureTable.ColumnDefinitions
}

func TestHealthChecksVerbose(t *testing.T) {
	for path, want := range map[string]string{
		"/readyz?verbose": "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n" +
			"[+]poststarthook/storage-object-count-tracker-hook ok\n[+]metric-storage-ready ok\n" +
			"[+]metric-informer-sync ok\n[+]metadata-informer-sync ok\n[+]shutdown ok\nreadyz check passed\n",
		"/livez?verbose": "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n" +
			"[+]poststarthook/storage-object-count-tracker-hook ok\n[+]metric-collection-timely ok\n" +
			"[+]metadata-informer-sync ok\nlivez check passed\n",
	} {
		if r := directGet(t, defaultInstance, path, anonymous); r.status != http.StatusOK || string(r.body) != want {
			t.Errorf("%s: %d\n%s\nwant:\n%s", path, r.status, r.body, want)
		}
	}
}

func TestSelfMetricsHaveExactlyUpstreamsFamilies(t *testing.T) {
	families, r := selfMetrics(t, defaultInstance)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	want := map[string]struct {
		kind   dto.MetricType
		labels []string
	}{
		"metrics_server_api_metric_freshness_seconds":      {dto.MetricType_HISTOGRAM, nil},
		"metrics_server_kubelet_request_duration_seconds":  {dto.MetricType_HISTOGRAM, []string{"node"}},
		"metrics_server_kubelet_request_total":             {dto.MetricType_COUNTER, []string{"success"}},
		"metrics_server_kubelet_last_request_time_seconds": {dto.MetricType_GAUGE, []string{"node"}},
		"metrics_server_manager_tick_duration_seconds":     {dto.MetricType_HISTOGRAM, nil},
		"metrics_server_storage_points":                    {dto.MetricType_GAUGE, []string{"type"}},
	}
	var got []string
	for name := range families {
		if strings.HasPrefix(name, "metrics_server_") {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	if wantNames := sortedKeys(want); !slices.Equal(got, wantNames) {
		t.Fatalf("metrics_server_* families %v, want exactly %v", got, wantNames)
	}
	for name, w := range want {
		f := families[name]
		if f.GetType() != w.kind || !strings.HasPrefix(f.GetHelp(), "[ALPHA] ") {
			t.Errorf("%s: type %v help %q, want %v and an [ALPHA] help", name, f.GetType(), f.GetHelp(), w.kind)
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName())
			}
			if !slices.Equal(labels, w.labels) {
				t.Errorf("%s: labels %v, want %v", name, labels, w.labels)
			}
		}
	}
	// Freshness: exponential buckets from 1 by 1.364, 20 of them.
	var freshness []float64
	for b := 1.0; len(freshness) < 20; b *= 1.364 {
		freshness = append(freshness, b)
	}
	freshness = append(freshness, math.Inf(1))
	// Tick duration for a 15s resolution: Prometheus' defaults, then 12.5, 15, 22.5 and 30.
	tick := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 12.5, 15, 22.5, 30, math.Inf(1)}
	for name, bounds := range map[string][]float64{
		"metrics_server_api_metric_freshness_seconds":  freshness,
		"metrics_server_manager_tick_duration_seconds": tick,
	} {
		metrics := families[name].GetMetric()
		if len(metrics) != 1 {
			t.Errorf("%s: %d series, want 1", name, len(metrics))
			continue
		}
		var got []float64
		for _, b := range metrics[0].GetHistogram().GetBucket() {
			got = append(got, b.GetUpperBound())
		}
		if !bucketsEqual(got, bounds) {
			t.Errorf("%s buckets %v, want %v", name, got, bounds)
		}
	}
	points := map[string]bool{}
	for _, m := range families["metrics_server_storage_points"].GetMetric() {
		points[m.GetLabel()[0].GetValue()] = true
	}
	if !points["node"] || !points["container"] || len(points) != 2 {
		t.Errorf("metrics_server_storage_points types %v, want node and container", points)
	}
	if v := families["metrics_server_manager_tick_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); v == 0 {
		t.Error("no tick observed")
	}
}

func bucketsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsInf(b[i], 1) {
			if !math.IsInf(a[i], 1) {
				return false
			}
			continue
		}
		if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}
