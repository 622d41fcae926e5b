package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	compbasemetrics "k8s.io/component-base/metrics"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/kubernetes/pkg/kubelet/metrics/collectors"

	"metrics-server-rs/e2e/internal/controlapi"
)

// promContentType is what kubelets ≤ 1.30 send; newer ones add escaping=.
const promContentType = "text/plain; version=0.0.4; charset=utf-8"

// renderer is one component-base registry holding the kubelet's resource
// metrics collector, fed by a provider that returns whatever summary it is
// given. Registries are registered globally by component-base and never
// freed, so a small pool is reused across requests and nodes instead of
// creating one per node or per request.
type renderer struct {
	provider *fixedSummaryProvider
	handler  http.Handler
}

// fixedSummaryProvider implements the kubelet's stats.SummaryProvider.
type fixedSummaryProvider struct {
	summary *statsapi.Summary
	err     error
}

func (p *fixedSummaryProvider) Get(context.Context, bool) (*statsapi.Summary, error) {
	return p.summary, p.err
}

func (p *fixedSummaryProvider) GetCPUAndMemoryStats(context.Context) (*statsapi.Summary, error) {
	return p.summary, p.err
}

func newRendererPool() chan *renderer {
	ensureRegistryVersion()
	n := 2*runtime.GOMAXPROCS(0) + 6
	pool := make(chan *renderer, n)
	for range n {
		p := &fixedSummaryProvider{}
		reg := compbasemetrics.NewKubeRegistry()
		reg.CustomMustRegister(collectors.NewResourceMetricsCollector(p))
		pool <- &renderer{
			provider: p,
			handler:  compbasemetrics.HandlerFor(reg, compbasemetrics.HandlerOpts{ErrorHandling: compbasemetrics.ContinueOnError}),
		}
	}
	return pool
}

// serveResourceMetrics answers /metrics/resource through the kubelet's collector.
func (f *Fleet) serveResourceMetrics(w http.ResponseWriter, r *http.Request, ep *endpoint, faults controlapi.Faults) {
	summary, err := f.summaryFor(ep, faults, true)
	var rd *renderer
	select {
	case rd = <-f.renderers:
	case <-r.Context().Done():
		return
	}
	defer func() {
		rd.provider.summary, rd.provider.err = nil, nil
		f.renderers <- rd
	}()
	rd.provider.summary, rd.provider.err = summary, err
	if !faults.OldFormat && !faults.DuplicateSeries && faults.InventedContainers == 0 {
		rd.handler.ServeHTTP(w, r)
		return
	}
	// Render uncompressed, rewrite, answer without gzip.
	plain := r.Clone(r.Context())
	plain.Header.Del("Accept-Encoding")
	rec := httptest.NewRecorder()
	rd.handler.ServeHTTP(rec, plain)
	text := rec.Body.Bytes()
	if faults.OldFormat {
		text = toOldKubeletFormat(text, summary)
	}
	if faults.DuplicateSeries {
		text = withStaleDuplicates(text)
	}
	if faults.InventedContainers > 0 {
		text = withInventedPod(text, faults.InventedContainers, f.now())
	}
	w.Header().Set("Content-Type", promContentType)
	w.WriteHeader(rec.Code)
	_, _ = w.Write(text)
}

// duplicatedFamilies are the samples DuplicateSeries repeats.
var duplicatedFamilies = []string{
	"node_cpu_usage_seconds_total", "node_memory_working_set_bytes",
	"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
}

// withStaleDuplicates puts before each CPU and memory sample a copy of it
// whose value is 1 (a zombie cgroup's stale series); the real sample follows.
func withStaleDuplicates(text []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(text), "\n") {
		if !strings.HasPrefix(line, "#") && slices.Contains(duplicatedFamilies, familyOf(line)) {
			// name{labels} value timestamp: replace the value.
			head, rest, ok := strings.Cut(line, "} ")
			if !ok {
				head, rest, ok = strings.Cut(line, " ")
			} else {
				head += "}"
			}
			if _, timestamp, hasTimestamp := strings.Cut(strings.TrimSpace(rest), " "); ok && hasTimestamp {
				out.WriteString(head + " 1 " + timestamp + "\n")
			}
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

// withInventedPod appends a pod nobody created with n distinct containers.
func withInventedPod(text []byte, n int, now time.Time) []byte {
	out := bytes.NewBuffer(text)
	ms := now.UnixMilli()
	for _, family := range []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"} {
		for i := range n {
			fmt.Fprintf(out, "%s{container=\"c%d\",namespace=%q,pod=%q} 1 %d\n",
				family, i, controlapi.HostilePodNamespace, controlapi.HostilePodName, ms)
		}
	}
	return out.Bytes()
}

// toOldKubeletFormat rewrites 1.29+ text into what kubelet 1.28 emitted:
// every family [ALPHA], `scrape_error` instead of `resource_scrape_error`,
// container_start_time_seconds samples timestamped with the start time, and
// only the node swap family.
func toOldKubeletFormat(text []byte, summary *statsapi.Summary) []byte {
	starts := map[string]int64{}
	if summary != nil {
		for _, p := range summary.Pods {
			for _, c := range p.Containers {
				starts[startKey(c.Name, p.PodRef.Namespace, p.PodRef.Name)] = c.StartTime.UnixMilli()
			}
		}
	}
	var out bytes.Buffer
	skip := ""
	for _, line := range strings.SplitAfter(string(text), "\n") {
		if line == "" {
			continue
		}
		name := familyOf(line)
		if name == "container_swap_usage_bytes" || name == "pod_swap_usage_bytes" || name == "container_swap_limit_bytes" {
			skip = name
			continue
		}
		if skip != "" && name == skip {
			continue
		}
		line = strings.Replace(line, "[STABLE] ", "[ALPHA] ", 1)
		line = strings.Replace(line, "resource_scrape_error", "scrape_error", 1)
		if strings.HasPrefix(line, "container_start_time_seconds{") {
			if ms, ok := starts[startKeyFromLabels(line)]; ok {
				line = strings.TrimSuffix(line, "\n") + " " + strconv.FormatInt(ms, 10) + "\n"
			}
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

// familyOf returns the metric name a text line belongs to.
func familyOf(line string) string {
	if strings.HasPrefix(line, "# ") {
		fields := strings.Fields(line)
		if len(fields) >= 3 {
			return fields[2]
		}
		return ""
	}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return strings.TrimSpace(line)
	}
	return line[:end]
}

func startKey(container, namespace, pod string) string {
	return fmt.Sprintf("%s\x00%s\x00%s", container, namespace, pod)
}

// startKeyFromLabels reads container, namespace and pod from a sample line.
// Our names are DNS labels, so values never contain escaped quotes.
func startKeyFromLabels(line string) string {
	labels := map[string]string{}
	open, closing := strings.IndexByte(line, '{'), strings.IndexByte(line, '}')
	if open < 0 || closing < open {
		return ""
	}
	for _, kv := range strings.Split(line[open+1:closing], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	return startKey(labels["container"], labels["namespace"], labels["pod"])
}
