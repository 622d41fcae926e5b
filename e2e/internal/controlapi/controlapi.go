// Package controlapi defines the JSON messages of the sandbox's control
// endpoint (HTTP on 127.0.0.1, URL in CONTROL_URL). The server lives in
// internal/control, the Go client for tests in internal/control/client; both
// share these types so they cannot drift apart.
package controlapi

import (
	"time"

	"metrics-server-rs/e2e/internal/scenario"
)

// Paths of the control endpoint.
const (
	PathHealthz = "/healthz"
	PathStatus  = "/v1/status"
	PathSummary = "/v1/summary"
	PathUsage   = "/v1/usage"
	PathRestart = "/v1/restart"
	PathPods    = "/v1/pods"
	PathFaults  = "/v1/faults"
	PathSample  = "/v1/sample"
	// PathAPIServerRestart restarts kube-apiserver (POST).
	PathAPIServerRestart = "/v1/apiserver/restart"
)

// Quantity accepts "250m", "64Mi" or a bare number (cores or bytes).
type Quantity = scenario.Quantity

// Status is the supervisor's phase (GET /v1/status).
type Status struct {
	Phase        string    `json:"phase"`
	Message      string    `json:"message,omitempty"`
	StartedAt    time.Time `json:"startedAt"`
	ReadyAt      time.Time `json:"readyAt,omitzero"`
	Nodes        int       `json:"nodes"`
	ExpectedPods int       `json:"expectedPods"`
	RunningPods  int       `json:"runningPods"`
}

// UsageRequest changes simulated usage (POST /v1/usage).
//
// Targets, in order of precedence:
//   - Selector (+ optional Namespace, Node, Container): every matching pod now
//     and every matching pod started later (how HPA tests drive load);
//   - Namespace + Pod (+ optional Container): one pod or container;
//   - Node alone: the node's base load (outside pods).
type UsageRequest struct {
	Node      string `json:"node,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Selector  string `json:"selector,omitempty"`
	// CPU is a rate in cores ("250m", 0.25); Memory the working set and Swap
	// the swap usage, in bytes ("64Mi", 67108864). Absent fields do not change.
	CPU    *Quantity `json:"cpu,omitempty"`
	Memory *Quantity `json:"memory,omitempty"`
	Swap   *Quantity `json:"swap,omitempty"`
}

// UsageResponse tells how many containers (or nodes) changed.
type UsageResponse struct {
	Affected int       `json:"affected"`
	At       time.Time `json:"at"`
}

// APIServerRestartRequest restarts kube-apiserver (POST
// /v1/apiserver/restart): SIGTERM, down for DownFor (a Go duration, default
// 0s, at most MaxAPIServerDowntime), then the same flags on the same port.
// The answer comes once the new process is ready.
type APIServerRestartRequest struct {
	DownFor string `json:"downFor,omitempty"`
}

// MaxAPIServerDowntime bounds APIServerRestartRequest.DownFor.
const MaxAPIServerDowntime = 5 * time.Minute

// APIServerRestartResponse names the new kube-apiserver process.
type APIServerRestartResponse struct {
	PID int `json:"pid"`
	// Took is the whole restart: stop, downtime, start until ready.
	Took string `json:"took"`
}

// RestartRequest restarts a container (POST /v1/restart): its CPU counter
// resets, its start time moves to now, and the pod status shows the restart.
type RestartRequest struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
}

// RestartResponse describes the new container instance.
type RestartResponse struct {
	RestartCount int32     `json:"restartCount"`
	StartedAt    time.Time `json:"startedAt"`
}

// PodRequest creates a pod through the API (POST /v1/pods); the workload
// agent binds it (unless Node is set) and runs it like any other pod.
type PodRequest struct {
	Namespace  string               `json:"namespace"`
	Name       string               `json:"name"`
	Node       string               `json:"node,omitempty"`
	Labels     map[string]string    `json:"labels,omitempty"`
	Containers []scenario.Container `json:"containers"`
}

// PodResponse names the created pod.
type PodResponse struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// ContainerRef selects containers; empty fields match everything.
type ContainerRef struct {
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
}

// Matches reports whether the reference selects a container.
func (r ContainerRef) Matches(namespace, pod, container string) bool {
	return (r.Namespace == "" || r.Namespace == namespace) &&
		(r.Pod == "" || r.Pod == pod) &&
		(r.Container == "" || r.Container == container)
}

// Faults make one simulated kubelet misbehave. Delay, Hang, HTTP500, Garbage,
// Oversized, Unauthorized and Forbidden apply to the data endpoints
// (/metrics/resource and /stats/summary); NotFound only to /metrics/resource;
// WrongCertificate to the TLS handshake.
type Faults struct {
	// DelaySeconds holds every data response back this long.
	DelaySeconds float64 `json:"delaySeconds,omitempty"`
	// Hang never answers (until the client gives up or the fault is cleared).
	Hang bool `json:"hang,omitempty"`
	// HTTP500 answers 500 Internal Server Error.
	HTTP500 bool `json:"http500,omitempty"`
	// Garbage answers 200 with a body that is not Prometheus text or JSON.
	Garbage bool `json:"garbage,omitempty"`
	// OversizedBytes > 0 answers 200 with a valid scrape padded to that size.
	OversizedBytes int64 `json:"oversizedBytes,omitempty"`
	// WrongCertificate serves a certificate from an unrelated CA.
	WrongCertificate bool `json:"wrongCertificate,omitempty"`
	// Unauthorized answers 401 Unauthorized whatever the credentials.
	Unauthorized bool `json:"unauthorized,omitempty"`
	// Forbidden answers 403 as a kubelet whose SubjectAccessReview denied.
	Forbidden bool `json:"forbidden,omitempty"`
	// NotFound answers 404 on /metrics/resource (a kubelet without it).
	NotFound bool `json:"notFound,omitempty"`
	// ScrapeError makes the stats provider fail: /metrics/resource then
	// carries only `resource_scrape_error 1`, /stats/summary answers 500.
	ScrapeError bool `json:"scrapeError,omitempty"`
	// MissingCPU and MissingMemory drop those values for matching containers
	// (as for a container that has just started).
	MissingCPU    []ContainerRef `json:"missingCPU,omitempty"`
	MissingMemory []ContainerRef `json:"missingMemory,omitempty"`
	// OldFormat emits the kubelet ≤ 1.28 text: [ALPHA] help, scrape_error,
	// timestamps on container_start_time_seconds, no pod/container swap.
	OldFormat bool `json:"oldFormat,omitempty"`
	// DuplicateSeries repeats every node and container CPU and memory sample
	// of /metrics/resource, as kubelets do for zombie cgroups
	// (metrics-server#1778): a stale copy with value 1 first, then the real
	// sample, so a reader keeping the later line serves the real values.
	DuplicateSeries bool `json:"duplicateSeries,omitempty"`
	// InventedContainers > 0 appends to /metrics/resource a pod that does not
	// exist, HostilePodNamespace/HostilePodName, with that many distinct
	// containers (CPU and memory each): a hostile or broken kubelet.
	InventedContainers int `json:"inventedContainers,omitempty"`
}

// The pod InventedContainers reports.
const (
	HostilePodNamespace = "hostile"
	HostilePodName      = "wide"
)

// IsZero reports whether no fault is set.
func (f Faults) IsZero() bool {
	return f.DelaySeconds == 0 && !f.Hang && !f.HTTP500 && !f.Garbage && f.OversizedBytes == 0 &&
		!f.WrongCertificate && !f.Unauthorized && !f.Forbidden && !f.NotFound && !f.ScrapeError &&
		len(f.MissingCPU) == 0 && len(f.MissingMemory) == 0 && !f.OldFormat && !f.DuplicateSeries &&
		f.InventedContainers == 0
}

// FaultRequest sets (replaces) the faults of some nodes (PUT /v1/faults).
type FaultRequest struct {
	Nodes  []string `json:"nodes,omitempty"`
	All    bool     `json:"all,omitempty"`
	Faults Faults   `json:"faults"`
}

// FaultsResponse lists the nodes that have faults (GET /v1/faults).
type FaultsResponse struct {
	Nodes map[string]Faults `json:"nodes"`
}

// SampleResponse is exactly what a kubelet reported at one tick
// (GET /v1/sample?node=&namespace=&pod=&container=&at=): the raw numbers and
// the sample text as it appears in /metrics/resource.
type SampleResponse struct {
	Node      string `json:"node"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`

	Tick            time.Time `json:"tick"`
	TimestampMillis int64     `json:"timestampMillis"`

	CPUCoreNanoseconds uint64    `json:"cpuCoreNanoseconds"`
	CPUNanoCores       uint64    `json:"cpuNanoCores"`
	WorkingSetBytes    uint64    `json:"workingSetBytes"`
	SwapBytes          uint64    `json:"swapBytes"`
	StartTime          time.Time `json:"startTime"`
	RestartCount       int32     `json:"restartCount"`

	// Text values, e.g. CPUText "763.956502113", MemoryText "1.531904e+07",
	// StartTimeText "1.7487649845127332e+09" (containers only).
	CPUText       string `json:"cpuText"`
	MemoryText    string `json:"memoryText"`
	SwapText      string `json:"swapText"`
	StartTimeText string `json:"startTimeText,omitempty"`
}

// RequestCounts are the requests one simulated kubelet received, by endpoint.
type RequestCounts struct {
	MetricsResource int64 `json:"metricsResource"`
	StatsSummary    int64 `json:"statsSummary"`
	Healthz         int64 `json:"healthz"`
	Other           int64 `json:"other"`
	Unauthorized    int64 `json:"unauthorized"`
	Forbidden       int64 `json:"forbidden"`
}

// NodeSummary describes one simulated node.
type NodeSummary struct {
	Name       string        `json:"name"`
	InternalIP string        `json:"internalIP"`
	ExternalIP string        `json:"externalIP,omitempty"`
	Pods       int           `json:"pods"`
	Requests   RequestCounts `json:"requests"`
	Faults     *Faults       `json:"faults,omitempty"`
}

// Summary describes the whole simulation (GET /v1/summary[?node=]).
type Summary struct {
	Status     Status        `json:"status"`
	Pods       int           `json:"pods"`
	Containers int           `json:"containers"`
	UsageRules int           `json:"usageRules"`
	Requests   RequestCounts `json:"requests"`
	Nodes      []NodeSummary `json:"nodes"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}
