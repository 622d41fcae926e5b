package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"

	"metrics-server-rs/e2e/internal/controlapi"
)

// TestFailingKubeletsVanishAndReturn makes two kubelets fail at a time, in
// each of the ways a kubelet can, while the third keeps working: the failing
// nodes (and their pods) disappear from the metrics while the healthy one
// keeps its exact values, the log names each node's reason, the failure
// counter counts it, and the nodes return once the fault is cleared.
func TestFailingKubeletsVanishAndReturn(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(func() { _ = control.ClearFaults(ctx) })
	const healthy = "node-3"
	phases := []map[string]nodeFault{
		{
			"node-1": {controlapi.Faults{HTTP500: true}, "http_status", `status: "500 Internal Server Error"`},
			"node-2": {controlapi.Faults{Garbage: true}, "decode", "could not decode the response of https://"},
		},
		{
			// Longer than --kubelet-request-timeout (10s).
			"node-1": {controlapi.Faults{DelaySeconds: 12}, "request_timeout", "did not answer within 10s"},
			// The RBAC hint.
			"node-2": {controlapi.Faults{Forbidden: true}, "forbidden", "grant get on nodes/metrics to metrics-server's service account"},
		},
		{
			"node-1": {controlapi.Faults{Hang: true}, "request_timeout", "did not answer within 10s"},
			"node-2": {controlapi.Faults{Unauthorized: true}, "unauthorized", "rejected metrics-server's credentials (401 Unauthorized"},
		},
	}
	pods := apiPods(t)
	for i, phase := range phases {
		failing := sortedKeys(phase)
		t.Run(fmt.Sprintf("phase %d %v", i+1, failing), func(t *testing.T) {
			waitAllNodesServed(t)
			families, _ := selfMetrics(t, defaultInstance)
			before := counterByLabel(families, "kubelet_scrape_failures_total", "reason")
			offset := logSize(t, defaultInstance)
			for _, node := range failing {
				if err := control.SetFaults(ctx, phase[node].fault, node); err != nil {
					t.Fatal(err)
				}
			}
			defer func() {
				if err := control.ClearFaults(ctx, failing...); err != nil {
					t.Error(err)
				}
			}()
			eventually(t, 3*defaultResolution, "failing nodes gone, reasons logged and counted", func() (bool, string) {
				list := nodeMetricsList(t, metricsAPI+"/nodes")
				if names := list.names(); !slices.Equal(names, []string{healthy}) {
					return false, fmt.Sprintf("nodes listed: %v", names)
				}
				log := readLog(t, defaultInstance, offset)
				families, _ := selfMetrics(t, defaultInstance)
				after := counterByLabel(families, "kubelet_scrape_failures_total", "reason")
				wantIncrease := map[string]float64{}
				for _, node := range failing {
					f := phase[node]
					if !logNames(log, node, f.reason, f.detail) {
						return false, fmt.Sprintf("no log line for %s with reason %s and %q in:\n%s", node, f.reason, f.detail, log)
					}
					wantIncrease[f.reason]++
				}
				for reason, n := range wantIncrease {
					if after[reason]-before[reason] < n {
						return false, fmt.Sprintf("kubelet_scrape_failures_total{reason=%q}: %v before, %v now", reason, before[reason], after[reason])
					}
				}
				return true, ""
			})
			for _, node := range failing {
				expectNodeNotFoundBecause(t, apiGet(t, metricsAPI+"/nodes/"+node, adminIdentity(t)), node, phase[node].detail)
			}
			served := podMetricsList(t, metricsAPI+"/pods")
			for _, item := range served.Items {
				if p := pods[item.Metadata.Namespace+"/"+item.Metadata.Name]; p != nil && slices.Contains(failing, p.Spec.NodeName) {
					t.Errorf("pod %s/%s on failing %s is still served", p.Namespace, p.Name, p.Spec.NodeName)
				}
			}
			var nm nodeMetricsJSON
			mustJSON(t, "GET "+healthy, apiGet(t, metricsAPI+"/nodes/"+healthy, adminIdentity(t)), &nm)
			if err := verifyNodeMetrics(ctx, nm); err != nil {
				t.Errorf("the healthy node: %v", err)
			}
		})
	}
	// Cleared: every node, and the pods on them, come back.
	waitAllNodesServed(t)
	eventually(t, 3*defaultResolution, "pods of the recovered nodes served", func() (bool, string) {
		served := podMetricsList(t, metricsAPI+"/pods")
		var missing []string
		for key, p := range pods {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				if _, ok := served.find(p.Namespace, p.Name); !ok {
					missing = append(missing, key)
				}
			}
		}
		return len(missing) == 0, fmt.Sprint("missing: ", missing)
	})
}

// nodeFault is a fault, the kubelet_scrape_failures_total reason it must be
// counted under, and what the log line must say about it.
type nodeFault struct {
	fault          controlapi.Faults
	reason, detail string
}

// TestKubeletWithAWrongCertificateIsNotScraped: a serving certificate from an
// unrelated CA fails the TLS handshake. The fault only affects new
// connections (the simulated kubelet keeps established ones, as a kubelet
// does), so a fresh instance is started while it is set.
func TestKubeletWithAWrongCertificateIsNotScraped(t *testing.T) {
	ctx := context.Background()
	const bad = "node-2"
	t.Cleanup(func() { _ = control.ClearFaults(ctx, bad) })
	if err := control.SetFaults(ctx, controlapi.Faults{WrongCertificate: true}, bad); err != nil {
		t.Fatal(err)
	}
	instance := startExtraInstance(t, "wrong-certificate")
	admin := adminIdentity(t)
	eventually(t, 3*defaultResolution, "the other nodes served, the x509 failure logged and counted", func() (bool, string) {
		var list nodeMetricsListJSON
		mustJSON(t, "nodes", directGet(t, instance, metricsAPI+"/nodes", admin), &list)
		if !slices.Equal(list.names(), []string{"node-1", "node-3"}) {
			return false, fmt.Sprint("nodes listed: ", list.names())
		}
		log := readLog(t, instance, 0)
		if !logNames(log, bad, "tls_unknown_authority", "x509: certificate signed by unknown authority") {
			return false, "no x509 log line for " + bad + " in:\n" + log
		}
		families, _ := selfMetrics(t, instance)
		if n := counterByLabel(families, "kubelet_scrape_failures_total", "reason")["tls_unknown_authority"]; n < 1 {
			return false, fmt.Sprintf("kubelet_scrape_failures_total{reason=\"tls_unknown_authority\"} = %v", n)
		}
		return true, ""
	})
	expectNodeNotFoundBecause(t, directGet(t, instance, metricsAPI+"/nodes/"+bad, admin), bad,
		"x509: certificate signed by unknown authority")
	// Where users look: a Warning event on the Node, naming the cause; a per-reason gauge.
	eventually(t, 2*defaultResolution, "a FailedScrape event on "+bad, func() (bool, string) {
		notes := nodeEventNotes(t, bad, "FailedScrape")
		for _, note := range notes {
			if strings.HasPrefix(note, "tls_unknown_authority: ") && strings.Contains(note, "x509: certificate signed by unknown authority") {
				return true, ""
			}
		}
		return false, fmt.Sprint("FailedScrape notes: ", notes)
	})
	if describe := kubectl(t, "describe", "node", bad); !strings.Contains(describe, "FailedScrape") {
		t.Errorf("kubectl describe node %s shows no FailedScrape event:\n%s", bad, describe)
	}
	families, _ := selfMetrics(t, instance)
	if n := gaugeByLabel(families, "kubelet_scrape_failing_nodes", "reason")["tls_unknown_authority"]; n != 1 {
		t.Errorf("kubelet_scrape_failing_nodes{reason=\"tls_unknown_authority\"} = %v, want 1", n)
	}
	if last := gaugeByLabel(families, "kubelet_last_successful_scrape_timestamp_seconds", "node"); last["node-1"] == 0 || last[bad] != 0 {
		t.Errorf("kubelet_last_successful_scrape_timestamp_seconds = %v: want node-1 set, %s never", last, bad)
	}
	if err := control.ClearFaults(ctx, bad); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*defaultResolution, bad+" served once its certificate is right, with a Normal event", func() (bool, string) {
		var list nodeMetricsListJSON
		mustJSON(t, "nodes", directGet(t, instance, metricsAPI+"/nodes", admin), &list)
		if len(list.Items) != testNodes {
			return false, fmt.Sprint("nodes listed: ", list.names())
		}
		if notes := nodeEventNotes(t, bad, "ScrapeRecovered"); len(notes) == 0 {
			return false, "no ScrapeRecovered event on " + bad
		}
		return true, ""
	})
}

// expectNodeNotFoundBecause checks the 404 of a node whose scrapes fail: upstream's
// Status (code, reason, details) with a message that adds why — the last failure,
// how long ago, and its text, which must contain cause.
func expectNodeNotFoundBecause(t *testing.T, r response, node, cause string) {
	t.Helper()
	var missing statusJSON
	if err := json.Unmarshal(r.body, &missing); err != nil || r.status != 404 || missing.Kind != "Status" ||
		missing.Status != "Failure" || missing.Reason != "NotFound" || missing.Code != 404 ||
		!strings.HasPrefix(missing.Message, fmt.Sprintf(`nodemetrics.metrics.k8s.io %q not found: the last scrape of node %q, `, node, node)) ||
		!strings.Contains(missing.Message, cause) ||
		!reflect.DeepEqual(missing.Details, map[string]any{"name": node, "group": "metrics.k8s.io", "kind": "nodemetrics"}) {
		t.Errorf("GET node %s: want upstream's 404 saying the last scrape failed with %q, got %s", node, cause, r)
	}
}

// nodeEventNotes lists the notes of metrics-server's events with reason on a node.
func nodeEventNotes(t *testing.T, node, reason string) []string {
	t.Helper()
	// Core v1 events: what `kubectl describe` and `kubectl get events` read (the note is the
	// message there, the reporting controller the reporting component).
	out := kubectl(t, "get", "events", "-A", "--field-selector", "involvedObject.name="+node+",reason="+reason,
		"-o", `jsonpath={range .items[?(@.reportingComponent=="metrics-server")]}{.message}{"\n"}{end}`)
	var notes []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			notes = append(notes, line)
		}
	}
	return notes
}

// waitAllNodesServed waits until every node is in the node list again.
func waitAllNodesServed(t *testing.T) {
	t.Helper()
	eventually(t, 3*defaultResolution, "every node served", func() (bool, string) {
		names := nodeMetricsList(t, metricsAPI+"/nodes").names()
		return len(names) == testNodes, fmt.Sprintf("nodes listed: %v", names)
	})
}

// logNames reports whether a log line says that scraping node failed for reason with detail.
func logNames(log, node, reason, detail string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "failed to scrape node") && strings.Contains(line, `node="`+node+`"`) &&
			strings.Contains(line, `reason="`+reason+`"`) && strings.Contains(line, detail) {
			return true
		}
	}
	return false
}

// TestRepeatedSeriesAndAHugePodKeepTheirNodes: node-1's kubelet repeats every
// CPU and memory series (a stale copy first, as for zombie cgroups) and
// node-2's reports an invented pod with 100,000 containers (about 19 MB a
// scrape). Both nodes stay served — node-1 with the later (real) values, its
// repeats counted — the huge pod is left out and logged, the healthy node is
// scraped every cycle and /livez passes throughout.
func TestRepeatedSeriesAndAHugePodKeepTheirNodes(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(func() { _ = control.ClearFaults(ctx) })
	const dup, wide, healthy = "node-1", "node-2", "node-3"
	waitAllNodesServed(t)
	offset := logSize(t, defaultInstance)
	if err := control.SetFaults(ctx, controlapi.Faults{DuplicateSeries: true}, dup); err != nil {
		t.Fatal(err)
	}
	if err := control.SetFaults(ctx, controlapi.Faults{InventedContainers: 100_000}, wide); err != nil {
		t.Fatal(err)
	}
	pods := apiPods(t)
	var healthyScrapes []float64
	eventually(t, 4*defaultResolution, "both faulty nodes served, repeats counted, the huge pod left out", func() (bool, string) {
		if r := directGet(t, defaultInstance, "/livez", anonymous); r.status != http.StatusOK {
			t.Fatalf("/livez failed while a kubelet sends a huge body: %v", r)
		}
		families, _ := selfMetrics(t, defaultInstance)
		if last := gaugeByLabel(families, "metrics_server_kubelet_last_request_time_seconds", "node")[healthy]; len(healthyScrapes) == 0 || last != healthyScrapes[len(healthyScrapes)-1] {
			healthyScrapes = append(healthyScrapes, last)
		}
		if names := nodeMetricsList(t, metricsAPI+"/nodes").names(); len(names) != testNodes {
			return false, fmt.Sprintf("nodes listed: %v", names)
		}
		if n := counterByLabel(families, "kubelet_duplicate_series_total", "node")[dup]; n == 0 {
			return false, "kubelet_duplicate_series_total{node=" + dup + "} not counted yet"
		}
		log := readLog(t, defaultInstance, offset)
		if !strings.Contains(log, "more containers than a pod may have") || !strings.Contains(log, `node="`+wide+`"`) {
			return false, "no log line about the oversized pod yet"
		}
		// Three scrapes of the healthy node seen while the faults are on.
		return len(healthyScrapes) >= 3, fmt.Sprintf("healthy node scraped at %v", healthyScrapes)
	})
	// node-1 is served with the later line's (the real) values.
	eventually(t, 3*defaultResolution, "the repeating node's values are the real ones", func() (bool, string) {
		var nm nodeMetricsJSON
		mustJSON(t, "GET "+dup, apiGet(t, metricsAPI+"/nodes/"+dup, adminIdentity(t)), &nm)
		if err := verifyNodeMetrics(ctx, nm); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	served := podMetricsList(t, metricsAPI+"/pods")
	if _, ok := served.find(controlapi.HostilePodNamespace, controlapi.HostilePodName); ok {
		t.Error("the invented 100,000-container pod is served")
	}
	for _, p := range pods {
		if p.Spec.NodeName != dup || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		pm, ok := served.find(p.Namespace, p.Name)
		if !ok {
			// Too young to have a rate yet is fine; the node's own pods are what matters.
			continue
		}
		for _, c := range pm.Containers {
			if c.Usage["memory"] == memoryQuantity(1) {
				t.Errorf("pod %s/%s container %s is served with the stale duplicate's memory", p.Namespace, p.Name, c.Name)
			}
		}
	}
}

// gaugeByLabel reads a gauge family's values keyed by one label's value.
func gaugeByLabel(families map[string]*dto.MetricFamily, family, label string) map[string]float64 {
	out := map[string]float64{}
	if f, ok := families[family]; ok {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
