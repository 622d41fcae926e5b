package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
)

// NodeInfo is a scenario node with its kubelet addresses.
type NodeInfo struct {
	scenario.Node
	InternalIP netip.Addr
	// ExternalIP is the routable address the apiserver's node proxy uses
	// (invalid when the host could not provide one).
	ExternalIP netip.Addr
}

// nodeState is the agent's bookkeeping for one node.
type nodeState struct {
	info     NodeInfo
	assigned int    // pods bound or pinned here and not yet gone
	nextIP   uint32 // next pod IP offset
}

// podCIDR gives node i the /24 10.(64+i/256).(i%256).0.
func podCIDR(index int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + index/256), byte(index % 256), 0}), 24)
}

func (n *nodeState) allocatePodIP() netip.Addr {
	base := podCIDR(n.info.Index).Addr().As4()
	base[3] = byte(2 + n.nextIP%253)
	n.nextIP++
	return netip.AddrFrom4(base)
}

// nodeObject builds the Node a kubelet would register, already Ready.
func (a *Agent) nodeObject(info NodeInfo, now time.Time) *v1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname":           info.Name,
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"beta.kubernetes.io/os":            "linux",
		"beta.kubernetes.io/arch":          "amd64",
		"node.kubernetes.io/instance-type": "sandbox",
	}
	for k, v := range info.Labels {
		labels[k] = v
	}
	addresses := []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: info.InternalIP.String()}}
	if info.ExternalIP.IsValid() {
		addresses = append(addresses, v1.NodeAddress{Type: v1.NodeExternalIP, Address: info.ExternalIP.String()})
	}
	addresses = append(addresses, v1.NodeAddress{Type: v1.NodeHostName, Address: info.Name})
	ts := metav1.NewTime(now)
	cond := func(t v1.NodeConditionType, s v1.ConditionStatus, reason, msg string) v1.NodeCondition {
		return v1.NodeCondition{Type: t, Status: s, LastHeartbeatTime: ts, LastTransitionTime: ts, Reason: reason, Message: msg}
	}
	cidr := podCIDR(info.Index).String()
	id := stableID(info.Name)
	// A kubelet with swap reports its capacity (`kubectl top node --show-swap`
	// divides by it) and leaves the field out when the node has none.
	var swap *v1.NodeSwapStatus
	if info.SwapCapacityBytes > 0 {
		swap = &v1.NodeSwapStatus{Capacity: ptr(int64(info.SwapCapacityBytes))}
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        info.Name,
			Labels:      labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: v1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
		Status: v1.NodeStatus{
			Capacity:    toResourceList(info.Capacity),
			Allocatable: toResourceList(info.Allocatable),
			Phase:       v1.NodeRunning,
			Conditions: []v1.NodeCondition{
				cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses:       addresses,
			DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: int32(a.cfg.KubeletPort)}},
			NodeInfo: v1.NodeSystemInfo{
				MachineID:               id[:32],
				SystemUUID:              formatUUID(id),
				BootID:                  formatUUID(stableID(info.Name + "/boot")),
				KernelVersion:           kernelVersion(),
				OSImage:                 "Simulated kubelet (metrics-server-rs e2e sandbox)",
				ContainerRuntimeVersion: "containerd://2.1.4",
				KubeletVersion:          a.cfg.KubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				Swap:                    swap,
			},
		},
	}
}

// RegisterNodes creates every Node object (in parallel) and adds the nodes
// to the model. Nodes are created Ready and stay so: the node lifecycle
// controller, which would expect heartbeats, is not run.
func (a *Agent) RegisterNodes(ctx context.Context) error {
	now := time.Now()
	for _, n := range a.order {
		if err := a.cfg.Model.AddNode(sim.NodeSpec{
			Name:                n.info.Name,
			BootTime:            now.Add(-n.info.Uptime),
			SamplePeriod:        n.info.SamplePeriod,
			SamplePhase:         n.info.SamplePhase,
			Base:                n.info.Base,
			MemoryCapacityBytes: memoryOf(n.info.Capacity),
		}); err != nil {
			return err
		}
	}
	return parallel(ctx, a.cfg.Workers, len(a.order), func(ctx context.Context, i int) error {
		node := a.nodeObject(a.order[i].info, now)
		_, err := a.cfg.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
		return nil
	})
}

func memoryOf(r scenario.ResourceList) uint64 {
	q, ok := r["memory"]
	if !ok {
		return 0
	}
	return q.Bytes()
}

func toResourceList(in scenario.ResourceList) v1.ResourceList {
	out := make(v1.ResourceList, len(in))
	for k, v := range in {
		out[v1.ResourceName(k)] = v.Quantity.DeepCopy()
	}
	return out
}

func toResourceListOrNil(in scenario.ResourceList) v1.ResourceList {
	if len(in) == 0 {
		return nil
	}
	return toResourceList(in)
}

func stableID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func formatUUID(hexID string) string {
	return fmt.Sprintf("%s-%s-%s-%s-%s", hexID[0:8], hexID[8:12], hexID[12:16], hexID[16:20], hexID[20:32])
}

func kernelVersion() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// halfOf is half a quantity in the given unit (default usage from requests).
func halfOf(q resource.Quantity, scale resource.Scale) uint64 {
	return uint64(max(q.ScaledValue(scale), 0)) / 2
}
