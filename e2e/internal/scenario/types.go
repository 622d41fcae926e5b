// Package scenario reads the sandbox's scenario files (YAML or JSON) and
// expands them into the concrete nodes, namespaces, Deployments and pods the
// supervisor creates. `up --nodes N --pods-per-node M` without a file uses
// Default(N, M).
package scenario

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Scenario is the file format (see e2e/README.md).
type Scenario struct {
	Name              string            `json:"name,omitempty"`
	Nodes             []NodeGroup       `json:"nodes"`
	Namespaces        []string          `json:"namespaces,omitempty"`
	Deployments       []Deployment      `json:"deployments,omitempty"`
	Pods              []PodSet          `json:"pods,omitempty"`
	ControllerManager ControllerManager `json:"controllerManager,omitempty"`
	APIServer         APIServer         `json:"apiServer,omitempty"`
}

// NodeGroup is one named node or Count nodes named NamePrefix1..NamePrefixN.
type NodeGroup struct {
	Name        string            `json:"name,omitempty"`
	NamePrefix  string            `json:"namePrefix,omitempty"`
	Count       int               `json:"count,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Capacity    ResourceList      `json:"capacity,omitempty"`
	Allocatable ResourceList      `json:"allocatable,omitempty"`
	BaseUsage   UsageSpec         `json:"baseUsage,omitempty"`
	// SamplePeriod is the kubelet housekeeping interval (default 1s).
	SamplePeriod Duration `json:"samplePeriod,omitempty"`
	// SamplePhase offsets the ticks; SpreadPhases spreads nodes evenly over
	// the period instead (node i gets phase i*period/count).
	SamplePhase  Duration `json:"samplePhase,omitempty"`
	SpreadPhases bool     `json:"spreadPhases,omitempty"`
	// Uptime is how long before `up` the nodes booted (default 1h).
	Uptime Duration `json:"uptime,omitempty"`
	// Swap turns swap on for some or all of the group's nodes.
	Swap *NodeSwap `json:"swap,omitempty"`
}

// NodeSwap describes nodes with swap on. Like a kubelet with swap (NodeSwap),
// they report Capacity in status.nodeInfo.swap.capacity, which
// `kubectl top node --show-swap` divides by, and use BaseUsage of it outside
// pods. The group's other nodes have no swap: no capacity in their status and
// no swap use of their own (a kubelet reports 0 for them).
type NodeSwap struct {
	// Count is how many of the group's nodes have swap, from its first:
	// 0, or more than the group has, means all of them. So a count keeps
	// its meaning under `up --nodes N`.
	Count int `json:"count,omitempty"`
	// Capacity is the swap space of each of those nodes (required, > 0).
	Capacity *Quantity `json:"capacity"`
	// BaseUsage is the swap those nodes use outside pods (default 0).
	BaseUsage *Quantity `json:"baseUsage,omitempty"`
}

// Deployment is created through the apps/v1 API, so it has /scale and the
// real ReplicaSet controller creates its pods.
type Deployment struct {
	Name           string            `json:"name"`
	Namespace      string            `json:"namespace,omitempty"`
	Replicas       int32             `json:"replicas"`
	Labels         map[string]string `json:"labels,omitempty"`
	Containers     []Container       `json:"containers"`
	InitContainers []Container       `json:"initContainers,omitempty"`
}

// PodSet is one plain pod (Name), Count pods placed by the workload agent,
// or PerNode pods on every node (fillers for scale tests).
type PodSet struct {
	Name       string `json:"name,omitempty"`
	NamePrefix string `json:"namePrefix,omitempty"`
	Count      int    `json:"count,omitempty"`
	PerNode    int    `json:"perNode,omitempty"`
	// Node pins the pods of this set to one node.
	Node string `json:"node,omitempty"`
	// Namespace, or Namespaces to spread the set round-robin.
	Namespace  string            `json:"namespace,omitempty"`
	Namespaces []string          `json:"namespaces,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Containers; when empty, every pod gets one or two generated containers
	// with varied usage (exactly ContainersPerPod of them when that is set).
	Containers       []Container `json:"containers,omitempty"`
	ContainersPerPod int         `json:"containersPerPod,omitempty"`
	InitContainers   []Container `json:"initContainers,omitempty"`
}

// Container describes one container and its simulated usage.
type Container struct {
	Name     string       `json:"name"`
	Image    string       `json:"image,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
	Usage    UsageSpec    `json:"usage,omitempty"`
	// Sidecar makes an init container restartable (restartPolicy: Always).
	Sidecar bool `json:"sidecar,omitempty"`
}

// UsageSpec is a container's or node's simulated consumption.
type UsageSpec struct {
	CPU    *Quantity `json:"cpu,omitempty"`
	Memory *Quantity `json:"memory,omitempty"`
	Swap   *Quantity `json:"swap,omitempty"`
}

// ControllerManager holds the kube-controller-manager tunables.
type ControllerManager struct {
	HPASyncPeriod              Duration `json:"hpaSyncPeriod,omitempty"`
	HPADownscaleStabilization  Duration `json:"hpaDownscaleStabilization,omitempty"`
	HPACPUInitializationPeriod Duration `json:"hpaCPUInitializationPeriod,omitempty"`
	HPAInitialReadinessDelay   Duration `json:"hpaInitialReadinessDelay,omitempty"`
	// ExtraControllers are added to the default --controllers list.
	ExtraControllers []string `json:"extraControllers,omitempty"`
	ExtraArgs        []string `json:"extraArgs,omitempty"`
}

// APIServer holds extra kube-apiserver flags.
type APIServer struct {
	ExtraArgs []string `json:"extraArgs,omitempty"`
}

// ResourceList maps resource names (cpu, memory, pods, ...) to quantities.
type ResourceList map[string]Quantity

// Quantity is a Kubernetes quantity that also accepts a bare JSON/YAML number
// (cores for CPU, bytes for memory).
type Quantity struct {
	resource.Quantity
}

// UnmarshalJSON accepts "250m", "64Mi" or 0.25.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	parsed, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("quantity %s: %w", s, err)
	}
	q.Quantity = parsed
	return nil
}

// MarshalJSON writes the canonical string form.
func (q Quantity) MarshalJSON() ([]byte, error) {
	return json.Marshal(q.String())
}

// MustQuantity parses a literal quantity; for built-in defaults only.
func MustQuantity(s string) Quantity {
	return Quantity{resource.MustParse(s)}
}

// NanoCores returns the quantity as a CPU rate in nanocores (negative → 0).
func (q *Quantity) NanoCores() uint64 {
	if q == nil {
		return 0
	}
	return uint64(max(q.ScaledValue(resource.Nano), 0))
}

// Bytes returns the quantity as bytes (negative → 0).
func (q *Quantity) Bytes() uint64 {
	if q == nil {
		return 0
	}
	return uint64(max(q.Value(), 0))
}

// Duration is a time.Duration written as "5s", "1m30s" (or a number of seconds).
type Duration struct {
	time.Duration
}

// UnmarshalJSON accepts "15s" or 15.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if !strings.HasPrefix(s, `"`) {
		var secs float64
		if err := json.Unmarshal(b, &secs); err != nil {
			return fmt.Errorf("duration %s: %w", s, err)
		}
		d.Duration = time.Duration(secs * float64(time.Second))
		return nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// IsZero lets omitempty-style checks treat an unset duration as absent.
func (d Duration) IsZero() bool { return d.Duration == 0 }
