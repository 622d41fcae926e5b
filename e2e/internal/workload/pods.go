package workload

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
)

// UsageAnnotation declares a pod's simulated usage per container name
// ("*" for every container), e.g. {"app":{"cpu":"250m","memory":"64Mi"}}.
// Deployments carry it in their pod template, so pods created by the
// ReplicaSet controller (or scaled up by the HPA) get usage too.
const UsageAnnotation = "sandbox.metrics-server-rs.io/usage"

// Defaults for containers whose usage nobody declared.
const (
	defaultCPUNanoCores    = 5_000_000
	defaultWorkingSetBytes = 16 << 20
)

// usageAnnotation encodes the declared usage of some containers.
func usageAnnotation(containers ...[]scenario.Container) string {
	m := map[string]scenario.UsageSpec{}
	for _, list := range containers {
		for _, c := range list {
			if c.Usage.IsSet() {
				m[c.Name] = c.Usage
			}
		}
	}
	if len(m) == 0 {
		return ""
	}
	data, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return string(data)
}

// podTemplate builds the spec shared by plain pods and Deployment templates.
func podTemplate(labels map[string]string, containers, inits []scenario.Container) v1.PodTemplateSpec {
	tmpl := v1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: v1.PodSpec{
			// No token volume and no service env vars: smaller objects at scale.
			AutomountServiceAccountToken: ptr(false),
			EnableServiceLinks:           ptr(false),
		},
	}
	if ann := usageAnnotation(containers, inits); ann != "" {
		tmpl.Annotations = map[string]string{UsageAnnotation: ann}
	}
	for _, c := range inits {
		ic := containerSpec(c)
		if c.Sidecar {
			ic.RestartPolicy = ptr(v1.ContainerRestartPolicyAlways)
		}
		tmpl.Spec.InitContainers = append(tmpl.Spec.InitContainers, ic)
	}
	for _, c := range containers {
		tmpl.Spec.Containers = append(tmpl.Spec.Containers, containerSpec(c))
	}
	return tmpl
}

func containerSpec(c scenario.Container) v1.Container {
	image := c.Image
	if image == "" {
		image = scenario.DefaultImage
	}
	return v1.Container{
		Name:  c.Name,
		Image: image,
		Resources: v1.ResourceRequirements{
			Requests: toResourceListOrNil(c.Requests),
			Limits:   toResourceListOrNil(c.Limits),
		},
	}
}

// podObject builds a plain scenario pod.
func podObject(p scenario.Pod) *v1.Pod {
	tmpl := podTemplate(p.Labels, p.Containers, p.InitContainers)
	tmpl.ObjectMeta.Name = p.Name
	tmpl.ObjectMeta.Namespace = p.Namespace
	tmpl.Spec.NodeName = p.Node
	return &v1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
}

// simContainers lists the containers a kubelet reports on (regular ones and
// restartable init containers) with their starting usage: the pod's
// annotation where given, otherwise half of the requests.
func simContainers(pod *v1.Pod) []sim.ContainerSpec {
	declared := map[string]scenario.UsageSpec{}
	if ann := pod.Annotations[UsageAnnotation]; ann != "" {
		// A malformed annotation is ignored: defaults apply.
		_ = json.Unmarshal([]byte(ann), &declared)
	}
	var out []sim.ContainerSpec
	add := func(c v1.Container, sidecar bool) {
		u := defaultUsage(c)
		for _, key := range []string{"*", c.Name} {
			if d, ok := declared[key]; ok {
				if d.CPU != nil {
					u.CPUNanoCores = d.CPU.NanoCores()
				}
				if d.Memory != nil {
					u.WorkingSetBytes = d.Memory.Bytes()
				}
				if d.Swap != nil {
					u.SwapBytes = d.Swap.Bytes()
				}
			}
		}
		var limit uint64
		if q, ok := c.Resources.Limits[v1.ResourceMemory]; ok {
			limit = uint64(max(q.Value(), 0))
		}
		out = append(out, sim.ContainerSpec{Name: c.Name, Sidecar: sidecar, Usage: u, MemoryLimitBytes: limit})
	}
	for _, c := range pod.Spec.InitContainers {
		if isSidecar(c) {
			add(c, true)
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c, false)
	}
	return out
}

func defaultUsage(c v1.Container) sim.Usage {
	u := sim.Usage{CPUNanoCores: defaultCPUNanoCores, WorkingSetBytes: defaultWorkingSetBytes}
	if q, ok := c.Resources.Requests[v1.ResourceCPU]; ok && !q.IsZero() {
		u.CPUNanoCores = halfOf(q, resource.Nano)
	}
	if q, ok := c.Resources.Requests[v1.ResourceMemory]; ok && !q.IsZero() {
		u.WorkingSetBytes = halfOf(q, 0)
	}
	return u
}

func isSidecar(c v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// runningStatus is the status a kubelet writes once every container runs.
func runningStatus(pod *v1.Pod, node *nodeState, st sim.PodState, podIP netip.Addr) v1.PodStatus {
	start := metav1.NewTime(st.StartedAt)
	byName := make(map[string]sim.ContainerState, len(st.Containers))
	for _, c := range st.Containers {
		byName[c.Name] = c
	}
	cond := func(t v1.PodConditionType) v1.PodCondition {
		return v1.PodCondition{Type: t, Status: v1.ConditionTrue, LastTransitionTime: start, ObservedGeneration: pod.Generation}
	}
	status := v1.PodStatus{
		Phase:              v1.PodRunning,
		ObservedGeneration: pod.Generation,
		Conditions: []v1.PodCondition{
			cond(v1.PodReadyToStartContainers), cond(v1.PodInitialized), cond(v1.PodReady),
			cond(v1.ContainersReady), cond(v1.PodScheduled),
		},
		HostIP:    node.info.InternalIP.String(),
		HostIPs:   []v1.HostIP{{IP: node.info.InternalIP.String()}},
		PodIP:     podIP.String(),
		PodIPs:    []v1.PodIP{{IP: podIP.String()}},
		StartTime: &start,
		QOSClass:  pod.Status.QOSClass,
	}
	for _, c := range pod.Spec.InitContainers {
		if cs, ok := byName[c.Name]; ok && isSidecar(c) {
			status.InitContainerStatuses = append(status.InitContainerStatuses, runningContainerStatus(pod, c, cs))
			continue
		}
		status.InitContainerStatuses = append(status.InitContainerStatuses, v1.ContainerStatus{
			Name:  c.Name,
			Image: c.Image, ImageID: imageID(c.Image),
			ContainerID: containerID(pod, c.Name, 0),
			Ready:       true,
			Started:     ptr(false),
			State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: start, FinishedAt: start,
				ContainerID: containerID(pod, c.Name, 0),
			}},
		})
	}
	for _, c := range pod.Spec.Containers {
		if cs, ok := byName[c.Name]; ok {
			status.ContainerStatuses = append(status.ContainerStatuses, runningContainerStatus(pod, c, cs))
		}
	}
	return status
}

func runningContainerStatus(pod *v1.Pod, c v1.Container, cs sim.ContainerState) v1.ContainerStatus {
	s := v1.ContainerStatus{
		Name:         c.Name,
		Image:        c.Image,
		ImageID:      imageID(c.Image),
		ContainerID:  containerID(pod, c.Name, cs.RestartCount),
		Ready:        true,
		Started:      ptr(true),
		RestartCount: cs.RestartCount,
		State:        v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(cs.StartedAt)}},
	}
	if cs.RestartCount > 0 {
		s.LastTerminationState = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
			ExitCode:    137,
			Reason:      "Error",
			StartedAt:   metav1.NewTime(cs.PreviousStartedAt),
			FinishedAt:  metav1.NewTime(cs.PreviousFinishedAt),
			ContainerID: containerID(pod, c.Name, cs.RestartCount-1),
		}}
	}
	return s
}

func containerID(pod *v1.Pod, name string, restart int32) string {
	return "containerd://" + stableID(string(pod.UID)+"/"+name+"/"+strconv.Itoa(int(restart)))
}

func imageID(image string) string {
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@sha256:" + stableID(image)
}

func ptr[T any](v T) *T { return &v }
