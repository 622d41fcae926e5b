// Package sim is the usage model behind the simulated kubelets: nodes, pods and
// containers with CPU rates, working sets, swap, start times and restarts, and
// the deterministic samples a kubelet would report for them.
//
// Samples are quantized: a node's kubelet reports the values of its latest
// housekeeping tick at or before the request time. Ticks fall on multiples of
// the node's sampling period (plus a per-node phase), and every value at a
// tick is a pure function of the recorded rate-change history. That is what
// lets end-to-end tests compute the exact numbers metrics-server must serve.
//
// The package has no networking: the kubelet package turns its summaries into
// HTTP responses and the workload agent feeds it pod lifecycle events.
package sim

import (
	"errors"
	"fmt"
	"time"
)

// Usage is the resource consumption of one container (or a node's base load).
type Usage struct {
	// CPUNanoCores is the CPU rate: 1e9 is one full core.
	CPUNanoCores uint64 `json:"cpuNanoCores"`
	// WorkingSetBytes is the memory working set.
	WorkingSetBytes uint64 `json:"workingSetBytes"`
	// SwapBytes is the swap usage.
	SwapBytes uint64 `json:"swapBytes"`
}

// UsageUpdate changes some fields of a Usage; nil fields stay as they are.
type UsageUpdate struct {
	CPUNanoCores    *uint64 `json:"cpuNanoCores,omitempty"`
	WorkingSetBytes *uint64 `json:"workingSetBytes,omitempty"`
	SwapBytes       *uint64 `json:"swapBytes,omitempty"`
}

// IsEmpty reports whether the update changes nothing.
func (u UsageUpdate) IsEmpty() bool {
	return u.CPUNanoCores == nil && u.WorkingSetBytes == nil && u.SwapBytes == nil
}

func (u UsageUpdate) applyTo(base Usage) Usage {
	if u.CPUNanoCores != nil {
		base.CPUNanoCores = *u.CPUNanoCores
	}
	if u.WorkingSetBytes != nil {
		base.WorkingSetBytes = *u.WorkingSetBytes
	}
	if u.SwapBytes != nil {
		base.SwapBytes = *u.SwapBytes
	}
	return base
}

// NodeSpec describes one simulated node.
type NodeSpec struct {
	Name string
	// BootTime is when the node's CPU counter started.
	BootTime time.Time
	// SamplePeriod is the housekeeping interval (default one second).
	SamplePeriod time.Duration
	// SamplePhase shifts the ticks: they fall at k*SamplePeriod + SamplePhase.
	SamplePhase time.Duration
	// Base is the load outside pods (system daemons, kernel).
	Base Usage
	// MemoryCapacityBytes is used to report availableBytes.
	MemoryCapacityBytes uint64
}

// ContainerSpec describes a container the kubelet reports on. Finished init
// containers are never passed in: a kubelet does not report them.
type ContainerSpec struct {
	Name string
	// Sidecar marks a restartable init container; it is reported like a container.
	Sidecar bool
	Usage   Usage
	// MemoryLimitBytes, when set, makes the kubelet report availableBytes.
	MemoryLimitBytes uint64
}

// PodKey identifies a pod.
type PodKey struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (k PodKey) String() string { return k.Namespace + "/" + k.Name }

// PodSpec describes a pod that starts running on a node.
type PodSpec struct {
	PodKey
	UID        string
	Node       string
	Labels     map[string]string
	Containers []ContainerSpec
}

// ContainerState is what the pod status needs to know about a container.
type ContainerState struct {
	Name         string
	Sidecar      bool
	StartedAt    time.Time
	RestartCount int32
	// PreviousStartedAt and PreviousFinishedAt describe the instance before the
	// last restart; zero when the container never restarted.
	PreviousStartedAt  time.Time
	PreviousFinishedAt time.Time
	Usage              Usage
}

// PodState is the simulator's view of a running pod.
type PodState struct {
	PodKey
	UID        string
	Node       string
	StartedAt  time.Time
	Containers []ContainerState
}

// Target selects what a usage change applies to.
type Target struct {
	// Node alone selects the node's base load.
	Node string `json:"node,omitempty"`
	// Namespace and Pod select one pod; Container narrows to one container.
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	// Selector (a label selector, optionally with Namespace) selects all
	// matching pods, now and in the future.
	Selector string `json:"selector,omitempty"`
}

// Counts summarises the model.
type Counts struct {
	Nodes      int `json:"nodes"`
	Pods       int `json:"pods"`
	Containers int `json:"containers"`
	Rules      int `json:"rules"`
}

// SampleQuery asks for what a kubelet reported at a tick.
type SampleQuery struct {
	Node      string
	Namespace string
	Pod       string
	Container string
	// At selects the latest tick at or before this instant (zero: now).
	At time.Time
}

// Sample is the exact data of one tick for a node, a pod or a container.
type Sample struct {
	Node      string `json:"node"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	// Tick is the sample instant; TimestampMillis is the Prometheus timestamp.
	Tick            time.Time `json:"tick"`
	TimestampMillis int64     `json:"timestampMillis"`

	CPUCoreNanoseconds uint64 `json:"cpuCoreNanoseconds"`
	CPUNanoCores       uint64 `json:"cpuNanoCores"`
	WorkingSetBytes    uint64 `json:"workingSetBytes"`
	SwapBytes          uint64 `json:"swapBytes"`
	// StartTime is the container start (or pod start, or node boot).
	StartTime    time.Time `json:"startTime"`
	RestartCount int32     `json:"restartCount"`
}

// Errors callers can test for.
var (
	ErrUnknownNode      = errors.New("unknown node")
	ErrUnknownPod       = errors.New("unknown pod")
	ErrUnknownContainer = errors.New("unknown container")
	ErrNotYetReported   = errors.New("not reported at that tick")
	ErrHistoryExpired   = errors.New("tick older than the retained history")
	ErrInvalidTarget    = errors.New("invalid target")
)

func unknownNode(name string) error { return fmt.Errorf("%w %q", ErrUnknownNode, name) }

func unknownPod(k PodKey) error { return fmt.Errorf("%w %s", ErrUnknownPod, k) }
