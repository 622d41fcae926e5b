package kubelet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/sim"
)

const (
	pathMetricsResource = "/metrics/resource"
	pathStatsSummary    = "/stats/summary"
	pathHealthz         = "/healthz"
)

// ServeHTTP authenticates and authorizes like a kubelet in webhook mode, then
// serves the node's endpoints (with its faults, if any).
func (f *Fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := f.endpointForRequest(r)
	if ep == nil {
		http.NotFound(w, r)
		return
	}
	path := r.URL.Path
	isData := false
	switch {
	case path == pathMetricsResource:
		ep.counts.metricsResource.Add(1)
		isData = true
	case path == pathStatsSummary:
		ep.counts.statsSummary.Add(1)
		isData = true
	case path == pathHealthz:
		ep.counts.healthz.Add(1)
	default:
		ep.counts.other.Add(1)
	}
	faults := ep.faults.Load().faults
	if isData && faults.Unauthorized {
		ep.counts.unauthorized.Add(1)
		writeText(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if !f.authorize(w, r, ep, isData && faults.Forbidden) {
		return
	}
	if isData && !f.applyTransportFaults(w, r, ep) {
		return
	}
	switch path {
	case pathHealthz:
		writeText(w, http.StatusOK, "ok")
	case pathMetricsResource:
		if r.Method != http.MethodGet {
			writeText(w, http.StatusMethodNotAllowed, "405: Method Not Allowed")
			return
		}
		f.serveResourceMetrics(w, r, ep, ep.faults.Load().faults)
	case pathStatsSummary:
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			writeText(w, http.StatusMethodNotAllowed, "405: Method Not Allowed")
			return
		}
		f.serveSummary(w, r, ep, ep.faults.Load().faults)
	default:
		http.NotFound(w, r)
	}
}

// authorize mirrors the kubelet's auth filter: 401 with "Unauthorized" when no
// credential is valid, 403 with the attributes when every
// SubjectAccessReview denies, 500 when the authorizer fails.
func (f *Fleet) authorize(w http.ResponseWriter, r *http.Request, ep *endpoint, forceForbidden bool) bool {
	resp, ok, err := f.auth.Authenticator.AuthenticateRequest(r)
	if err != nil || !ok {
		if err != nil {
			klog.V(2).InfoS("Unable to authenticate the request", "node", ep.name, "err", err)
		}
		ep.counts.unauthorized.Add(1)
		writeText(w, http.StatusUnauthorized, "Unauthorized")
		return false
	}
	attrs := ep.attrs.GetRequestAttributes(r.Context(), resp.User, r)
	if len(attrs) == 0 {
		writeText(w, http.StatusForbidden, "Authorization error: could not determine attributes for request")
		return false
	}
	subresources := make([]string, 0, len(attrs))
	allowed := false
	for _, attr := range attrs {
		subresources = append(subresources, attr.GetSubresource())
		if forceForbidden {
			continue
		}
		decision, _, err := f.auth.Authorizer.Authorize(r.Context(), attr)
		if err != nil {
			writeText(w, http.StatusInternalServerError, fmt.Sprintf(
				"Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)",
				attr.GetUser().GetName(), attr.GetVerb(), attr.GetResource(), attr.GetSubresource()))
			return false
		}
		if decision == authorizer.DecisionAllow {
			allowed = true
			break
		}
	}
	if !allowed {
		ep.counts.forbidden.Add(1)
		writeText(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)\n",
			attrs[0].GetUser().GetName(), attrs[0].GetVerb(), attrs[0].GetResource(), subresources))
		return false
	}
	return true
}

// applyTransportFaults handles the faults that replace or hold back the
// response; it reports whether the normal response should follow.
func (f *Fleet) applyTransportFaults(w http.ResponseWriter, r *http.Request, ep *endpoint) bool {
	faults := ep.faults.Load().faults
	if faults.DelaySeconds > 0 {
		t := time.NewTimer(time.Duration(faults.DelaySeconds * float64(time.Second)))
		select {
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	if !ep.waitWhileHanging(r.Context()) {
		return false
	}
	faults = ep.faults.Load().faults
	switch {
	case faults.HTTP500:
		writeText(w, http.StatusInternalServerError, "Internal Server Error")
		return false
	case faults.Garbage:
		writeGarbage(w)
		return false
	case faults.OversizedBytes > 0:
		f.writeOversized(w, ep, faults.OversizedBytes)
		return false
	case faults.NotFound && r.URL.Path == pathMetricsResource:
		http.NotFound(w, r)
		return false
	}
	return true
}

// summaryFor builds the node's current summary with the data faults applied.
func (f *Fleet) summaryFor(ep *endpoint, faults controlapi.Faults, cpuAndMemoryOnly bool) (*statsapi.Summary, error) {
	if faults.ScrapeError {
		return nil, errScrapeFault
	}
	s, err := f.model.Summary(ep.name, f.now(), sim.SummaryOptions{CPUAndMemoryOnly: cpuAndMemoryOnly, Shuffle: true})
	if err != nil {
		return nil, err
	}
	if len(faults.MissingCPU) > 0 || len(faults.MissingMemory) > 0 {
		for i := range s.Pods {
			p := &s.Pods[i]
			for j := range p.Containers {
				c := &p.Containers[j]
				if matchesAny(faults.MissingCPU, p.PodRef.Namespace, p.PodRef.Name, c.Name) {
					c.CPU = nil
				}
				if matchesAny(faults.MissingMemory, p.PodRef.Namespace, p.PodRef.Name, c.Name) {
					c.Memory = nil
				}
			}
		}
	}
	return s, nil
}

func matchesAny(refs []controlapi.ContainerRef, ns, pod, container string) bool {
	for _, r := range refs {
		if r.Matches(ns, pod, container) {
			return true
		}
	}
	return false
}

type scrapeFault struct{}

func (scrapeFault) Error() string { return "failed to get node info: simulated scrape error" }

var errScrapeFault error = scrapeFault{}

// serveSummary answers /stats/summary like the kubelet's stats handler.
func (f *Fleet) serveSummary(w http.ResponseWriter, r *http.Request, ep *endpoint, faults controlapi.Faults) {
	if err := r.ParseForm(); err != nil {
		writeText(w, http.StatusInternalServerError, "Internal Error: parse form failed: "+err.Error())
		return
	}
	only := r.Form["only_cpu_and_memory"]
	cpuAndMemoryOnly := len(only) == 1 && only[0] == "true"
	s, err := f.summaryFor(ep, faults, cpuAndMemoryOnly)
	if err != nil {
		writeText(w, http.StatusInternalServerError, "Internal Error: "+err.Error())
		return
	}
	body, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		writeText(w, http.StatusInternalServerError, "Internal Error: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeText answers like go-restful's WriteErrorString: the status and the
// bare text (net/http sniffs text/plain).
func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

func writeGarbage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", promContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("\x00\x01\x02garbage {{{ this is not Prometheus text }}}\n\xff\xfe container_cpu_usage_seconds_total{\"\n"))
}

// writeOversized streams a valid scrape padded with comment lines to size.
func (f *Fleet) writeOversized(w http.ResponseWriter, ep *endpoint, size int64) {
	w.Header().Set("Content-Type", promContentType)
	w.WriteHeader(http.StatusOK)
	line := "# padding " + strings.Repeat("x", 117) + "\n"
	var written int64
	head := fmt.Sprintf("# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\n# simulated oversized response from %s\n", ep.name)
	n, err := w.Write([]byte(head))
	written += int64(n)
	chunk := []byte(strings.Repeat(line, 512))
	for err == nil && written < size {
		part := chunk
		if rem := size - written; rem < int64(len(part)) {
			part = part[:rem]
		}
		n, err = w.Write(part)
		written += int64(n)
	}
}
