// Package control serves the sandbox's control endpoint: JSON over HTTP on
// 127.0.0.1 to change simulated usage, restart containers, add or remove
// pods, inject kubelet faults, read the exact samples a kubelet reported, and
// summarise the simulation. Message types are in internal/controlapi.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/kubelet"
	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
	"metrics-server-rs/e2e/internal/workload"
)

// maxBody bounds request bodies; control messages are small.
const maxBody = 1 << 20

// Backend is what the endpoint drives once the sandbox is up.
type Backend struct {
	Model *sim.Model
	Fleet *kubelet.Fleet
	Agent *workload.Agent
	Nodes []workload.NodeInfo
	// RestartAPIServer stops kube-apiserver, waits downFor and starts it
	// again; it returns the new PID once it is ready.
	RestartAPIServer func(ctx context.Context, downFor time.Duration) (int, error)
}

// Server is the control endpoint. It answers /healthz and /v1/status from
// the start and everything else once SetBackend has been called.
type Server struct {
	status  func() controlapi.Status
	backend atomic.Pointer[Backend]
	srv     *http.Server
	ln      net.Listener
}

// New prepares a server reporting status through statusFn.
func New(statusFn func() controlapi.Status) *Server {
	s := &Server{status: statusFn}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+controlapi.PathHealthz, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET "+controlapi.PathStatus, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.status()) })
	mux.HandleFunc("GET "+controlapi.PathSummary, s.withBackend(s.summary))
	mux.HandleFunc("POST "+controlapi.PathUsage, s.withBackend(s.usage))
	mux.HandleFunc("POST "+controlapi.PathRestart, s.withBackend(s.restart))
	mux.HandleFunc("POST "+controlapi.PathPods, s.withBackend(s.createPod))
	mux.HandleFunc("DELETE "+controlapi.PathPods+"/{namespace}/{name}", s.withBackend(s.deletePod))
	mux.HandleFunc("GET "+controlapi.PathFaults, s.withBackend(s.listFaults))
	mux.HandleFunc("PUT "+controlapi.PathFaults, s.withBackend(s.setFaults))
	mux.HandleFunc("DELETE "+controlapi.PathFaults, s.withBackend(s.clearFaults))
	mux.HandleFunc("GET "+controlapi.PathSample, s.withBackend(s.sample))
	mux.HandleFunc("POST "+controlapi.PathAPIServerRestart, s.withBackend(s.restartAPIServer))
	// Profiles of the supervisor (simulated kubelets, agent) for scale work.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Listen binds 127.0.0.1 on a free port and starts serving.
func (s *Server) Listen() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s.ln = ln
	go func() { _ = s.srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// SetBackend enables the simulation endpoints.
func (s *Server) SetBackend(b *Backend) { s.backend.Store(b) }

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

type handler func(http.ResponseWriter, *http.Request, *Backend)

func (s *Server) withBackend(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := s.backend.Load()
		if b == nil {
			writeError(w, http.StatusServiceUnavailable, errors.New("the sandbox is still starting"))
			return
		}
		h(w, r, b)
	}
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request, b *Backend) {
	only := r.URL.Query().Get("node")
	counts := b.Model.Counts()
	out := controlapi.Summary{Status: s.status(), Pods: counts.Pods, Containers: counts.Containers, UsageRules: counts.Rules}
	faults := b.Fleet.Faults()
	for _, n := range b.Nodes {
		req, _ := b.Fleet.Requests(n.Name)
		out.Requests.MetricsResource += req.MetricsResource
		out.Requests.StatsSummary += req.StatsSummary
		out.Requests.Healthz += req.Healthz
		out.Requests.Other += req.Other
		out.Requests.Unauthorized += req.Unauthorized
		out.Requests.Forbidden += req.Forbidden
		if only != "" && n.Name != only {
			continue
		}
		ns := controlapi.NodeSummary{Name: n.Name, InternalIP: n.InternalIP.String(), Pods: b.Model.PodsOnNode(n.Name), Requests: req}
		if n.ExternalIP.IsValid() {
			ns.ExternalIP = n.ExternalIP.String()
		}
		if f, ok := faults[n.Name]; ok {
			ns.Faults = &f
		}
		out.Nodes = append(out.Nodes, ns)
	}
	if only != "" && len(out.Nodes) == 0 {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w %q", sim.ErrUnknownNode, only))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, b *Backend) {
	var req controlapi.UsageRequest
	if !readJSON(w, r, &req) {
		return
	}
	var upd sim.UsageUpdate
	if req.CPU != nil {
		upd.CPUNanoCores = ptr(req.CPU.NanoCores())
	}
	if req.Memory != nil {
		upd.WorkingSetBytes = ptr(req.Memory.Bytes())
	}
	if req.Swap != nil {
		upd.SwapBytes = ptr(req.Swap.Bytes())
	}
	now := time.Now()
	n, err := b.Model.SetUsage(sim.Target{
		Node: req.Node, Namespace: req.Namespace, Pod: req.Pod, Container: req.Container, Selector: req.Selector,
	}, upd, now)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, controlapi.UsageResponse{Affected: n, At: now.UTC()})
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request, b *Backend) {
	var req controlapi.RestartRequest
	if !readJSON(w, r, &req) {
		return
	}
	st, err := b.Agent.RestartContainer(r.Context(), req.Namespace, req.Pod, req.Container)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, controlapi.RestartResponse{RestartCount: st.RestartCount, StartedAt: st.StartedAt.UTC()})
}

func (s *Server) restartAPIServer(w http.ResponseWriter, r *http.Request, b *Backend) {
	var req controlapi.APIServerRestartRequest
	if !readJSON(w, r, &req) {
		return
	}
	downFor := time.Duration(0)
	if req.DownFor != "" {
		d, err := time.ParseDuration(req.DownFor)
		if err != nil || d < 0 || d > controlapi.MaxAPIServerDowntime {
			writeError(w, http.StatusBadRequest, fmt.Errorf("downFor %q: want a duration from 0s to %s", req.DownFor, controlapi.MaxAPIServerDowntime))
			return
		}
		downFor = d
	}
	if b.RestartAPIServer == nil {
		writeError(w, http.StatusNotImplemented, errors.New("this sandbox cannot restart kube-apiserver"))
		return
	}
	started := time.Now()
	pid, err := b.RestartAPIServer(r.Context(), downFor)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, controlapi.APIServerRestartResponse{PID: pid, Took: time.Since(started).Round(time.Millisecond).String()})
}

func (s *Server) createPod(w http.ResponseWriter, r *http.Request, b *Backend) {
	var req controlapi.PodRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Namespace == "" {
		req.Namespace = "default"
	}
	if len(req.Containers) == 0 {
		req.Containers = []scenario.Container{{Name: "app"}}
	}
	if len(req.Labels) == 0 {
		req.Labels = map[string]string{"app": req.Name}
	}
	pod, err := b.Agent.CreatePod(r.Context(), scenario.Pod{
		Namespace: req.Namespace, Name: req.Name, Node: req.Node, Labels: req.Labels, Containers: req.Containers,
	})
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, controlapi.PodResponse{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)})
}

func (s *Server) deletePod(w http.ResponseWriter, r *http.Request, b *Backend) {
	if err := b.Agent.DeletePod(r.Context(), r.PathValue("namespace"), r.PathValue("name")); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listFaults(w http.ResponseWriter, _ *http.Request, b *Backend) {
	writeJSON(w, http.StatusOK, controlapi.FaultsResponse{Nodes: b.Fleet.Faults()})
}

func (s *Server) setFaults(w http.ResponseWriter, r *http.Request, b *Backend) {
	var req controlapi.FaultRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Nodes) == 0 && !req.All {
		writeError(w, http.StatusBadRequest, errors.New("name nodes or set all"))
		return
	}
	if req.Faults.DelaySeconds < 0 || req.Faults.OversizedBytes < 0 {
		writeError(w, http.StatusBadRequest, errors.New("negative delay or size"))
		return
	}
	if err := b.Fleet.SetFaults(req.Nodes, req.Faults); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, controlapi.FaultsResponse{Nodes: b.Fleet.Faults()})
}

func (s *Server) clearFaults(w http.ResponseWriter, r *http.Request, b *Backend) {
	if err := b.Fleet.SetFaults(r.URL.Query()["node"], controlapi.Faults{}); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, controlapi.FaultsResponse{Nodes: b.Fleet.Faults()})
}

func (s *Server) sample(w http.ResponseWriter, r *http.Request, b *Backend) {
	q := r.URL.Query()
	at, err := parseInstant(q.Get("at"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	smp, err := b.Model.Sample(sim.SampleQuery{
		Node: q.Get("node"), Namespace: q.Get("namespace"), Pod: q.Get("pod"), Container: q.Get("container"), At: at,
	})
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := controlapi.SampleResponse{
		Node: smp.Node, Namespace: smp.Namespace, Pod: smp.Pod, Container: smp.Container,
		Tick: smp.Tick, TimestampMillis: smp.TimestampMillis,
		CPUCoreNanoseconds: smp.CPUCoreNanoseconds, CPUNanoCores: smp.CPUNanoCores,
		WorkingSetBytes: smp.WorkingSetBytes, SwapBytes: smp.SwapBytes,
		StartTime: smp.StartTime, RestartCount: smp.RestartCount,
		CPUText: sim.CPUSecondsText(smp.CPUCoreNanoseconds), MemoryText: sim.BytesText(smp.WorkingSetBytes),
		SwapText: sim.BytesText(smp.SwapBytes),
	}
	if smp.Container != "" {
		out.StartTimeText = sim.StartTimeText(smp.StartTime)
	}
	writeJSON(w, http.StatusOK, out)
}

// parseInstant accepts RFC 3339 or Unix milliseconds; empty means now.
func parseInstant(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("at: want RFC 3339 or Unix milliseconds: %w", err)
	}
	return t, nil
}

func statusOf(err error) int {
	var apiStatus apierrors.APIStatus
	switch {
	case errors.Is(err, sim.ErrUnknownNode), errors.Is(err, sim.ErrUnknownPod), errors.Is(err, sim.ErrUnknownContainer):
		return http.StatusNotFound
	case errors.Is(err, sim.ErrInvalidTarget):
		return http.StatusBadRequest
	case errors.Is(err, sim.ErrNotYetReported):
		return http.StatusConflict
	case errors.Is(err, sim.ErrHistoryExpired):
		return http.StatusGone
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.As(err, &apiStatus) && apiStatus.Status().Code >= 400:
		return int(apiStatus.Status().Code)
	}
	return http.StatusInternalServerError
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, controlapi.Error{Error: err.Error()})
}

func ptr[T any](v T) *T { return &v }
