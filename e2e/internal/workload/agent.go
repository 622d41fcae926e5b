// Package workload is the sandbox's stand-in for the scheduler and for the
// pod lifecycle half of every kubelet. It registers the Node objects, creates
// the scenario's namespaces, Deployments and pods through the real API, and
// runs one Pod informer: it binds unscheduled pods to the least-loaded node,
// writes `Running` status for pods on sandbox nodes (and starts reporting
// them from the simulated kubelet), and finishes deletions with grace 0 as a
// kubelet does.
package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
)

// Config configures the agent.
type Config struct {
	Client         kubernetes.Interface
	Model          *sim.Model
	Nodes          []NodeInfo
	KubeletPort    int
	KubeletVersion string
	// Workers is the parallelism of API writes (default 32).
	Workers int
}

// Agent runs pod lifecycles for the sandbox nodes.
type Agent struct {
	cfg    Config
	order  []*nodeState
	byName map[string]*nodeState

	mu         sync.Mutex // guards assignment, nodeState.assigned/nextIP and cursor
	cursor     int
	assignment map[sim.PodKey]*nodeState

	// creating holds the pods a creation worker is starting itself; the
	// informer path leaves them alone until it is done.
	creating sync.Map

	factory informers.SharedInformerFactory
	pods    corelisters.PodLister
	synced  cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
}

// New prepares an agent; Start runs it.
func New(cfg Config) (*Agent, error) {
	if cfg.Client == nil || cfg.Model == nil || len(cfg.Nodes) == 0 {
		return nil, errors.New("workload agent needs a client, a model and nodes")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	a := &Agent{cfg: cfg, byName: make(map[string]*nodeState, len(cfg.Nodes)), assignment: map[sim.PodKey]*nodeState{}}
	for _, n := range cfg.Nodes {
		st := &nodeState{info: n}
		a.order = append(a.order, st)
		a.byName[n.Name] = st
	}
	a.factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTransform(slimPod))
	podInformer := a.factory.Core().V1().Pods()
	a.pods = podInformer.Lister()
	a.synced = podInformer.Informer().HasSynced
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "sandbox-pods"})
	_, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.enqueue,
		UpdateFunc: func(_, obj any) { a.enqueue(obj) },
		DeleteFunc: a.onDelete,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// slimPod keeps only what the agent reads from cached pods, which keeps the
// informer small at 150,000 pods: the containers' starting usage is worked
// out here once and kept in compact form instead of the resource lists.
// Cached pods are never written back whole (status goes out as a patch), so
// nothing is lost on the server.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, Generation: pod.Generation,
			ResourceVersion: pod.ResourceVersion, Labels: pod.Labels, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec:   v1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: v1.PodStatus{Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, QOSClass: pod.Status.QOSClass},
	}
	if specs, err := json.Marshal(simContainers(pod)); err == nil {
		slim.Annotations = map[string]string{simContainersAnnotation: string(specs)}
	}
	slimContainers := func(in []v1.Container) []v1.Container {
		out := make([]v1.Container, len(in))
		for i, c := range in {
			out[i] = v1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
		}
		return out
	}
	slim.Spec.Containers = slimContainers(pod.Spec.Containers)
	slim.Spec.InitContainers = slimContainers(pod.Spec.InitContainers)
	return slim, nil
}

// simContainersAnnotation holds, on cached (slim) pods only, the containers'
// starting usage computed by slimPod.
const simContainersAnnotation = "sandbox.metrics-server-rs.io/sim-containers"

// cachedSimContainers reads what slimPod stored.
func cachedSimContainers(pod *v1.Pod) []sim.ContainerSpec {
	var specs []sim.ContainerSpec
	if err := json.Unmarshal([]byte(pod.Annotations[simContainersAnnotation]), &specs); err != nil {
		return simContainers(pod)
	}
	return specs
}

// onDelete stops reporting a deleted pod. This happens here, with the UID
// of the deleted object, rather than in sync: a lister miss in sync may just
// mean the informer has not seen a brand-new pod yet.
func (a *Agent) onDelete(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	key := sim.PodKey{Namespace: pod.Namespace, Name: pod.Name}
	if a.cfg.Model.RemovePod(key, string(pod.UID), time.Now()) || !a.cfg.Model.HasPod(key, "") {
		a.unassign(key)
	}
}

func (a *Agent) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	a.queue.Add(key)
}

// Start runs the informer and the workers until ctx ends; it returns once
// the informer has synced.
func (a *Agent) Start(ctx context.Context) error {
	a.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), a.synced) {
		return errors.New("pod informer did not sync")
	}
	for range a.cfg.Workers {
		go wait.UntilWithContext(ctx, a.worker, time.Second)
	}
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	return nil
}

func (a *Agent) worker(ctx context.Context) {
	for {
		key, quit := a.queue.Get()
		if quit {
			return
		}
		err := a.sync(ctx, key)
		if err != nil && ctx.Err() == nil {
			klog.V(2).InfoS("pod sync failed, retrying", "pod", key, "err", err)
			a.queue.AddRateLimited(key)
		} else {
			a.queue.Forget(key)
		}
		a.queue.Done(key)
	}
}

// sync drives one pod one step towards its desired state.
func (a *Agent) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	podKey := sim.PodKey{Namespace: namespace, Name: name}
	if _, busy := a.creating.Load(podKey); busy {
		return nil // its creation worker finishes the start and re-queues it
	}
	pod, err := a.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // deleted (handled by onDelete) or not in the cache yet
	}
	if err != nil {
		return err
	}
	node, ours := a.byName[pod.Spec.NodeName]
	switch {
	case pod.DeletionTimestamp != nil:
		if !ours {
			return nil
		}
		a.cfg.Model.RemovePod(podKey, string(pod.UID), time.Now())
		a.unassign(podKey)
		return a.forceDelete(ctx, pod)
	case pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed:
		return nil
	case pod.Spec.NodeName == "":
		return a.bind(ctx, pod)
	case !ours:
		return nil
	case a.cfg.Model.HasPod(podKey, string(pod.UID)):
		return nil
	}
	return a.start(ctx, pod, node)
}

// assignLocked records that a pod occupies a node (for least-loaded placement).
func (a *Agent) assignLocked(key sim.PodKey, node *nodeState) {
	if old, ok := a.assignment[key]; ok {
		if old == node {
			return
		}
		old.assigned--
	}
	a.assignment[key] = node
	node.assigned++
}

func (a *Agent) unassign(key sim.PodKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.assignment[key]; ok {
		old.assigned--
		delete(a.assignment, key)
	}
}

// pickNode chooses the least-loaded node for a pod, rotating among equals,
// and reserves it at once so concurrent binds spread out.
func (a *Agent) pickNode(key sim.PodKey) *nodeState {
	a.mu.Lock()
	defer a.mu.Unlock()
	var best *nodeState
	bestIdx := 0
	for i := range a.order {
		idx := (a.cursor + i) % len(a.order)
		n := a.order[idx]
		if best == nil || n.assigned < best.assigned {
			best, bestIdx = n, idx
		}
	}
	a.cursor = (bestIdx + 1) % len(a.order)
	a.assignLocked(key, best)
	return best
}

func (a *Agent) bind(ctx context.Context, pod *v1.Pod) error {
	key := sim.PodKey{Namespace: pod.Namespace, Name: pod.Name}
	node := a.pickNode(key)
	err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node.info.Name},
	}, metav1.CreateOptions{})
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err):
		// Already bound (a stale cache entry): start() records the real node.
		return nil
	case apierrors.IsNotFound(err):
		a.unassign(key)
		return nil
	default:
		a.unassign(key)
		return fmt.Errorf("bind to %s: %w", node.info.Name, err)
	}
}

// start makes the simulated kubelet run the pod and reports it Running.
func (a *Agent) start(ctx context.Context, pod *v1.Pod, node *nodeState) error {
	now := time.Now()
	key := sim.PodKey{Namespace: pod.Namespace, Name: pod.Name}
	a.mu.Lock()
	ip := node.allocatePodIP()
	a.assignLocked(key, node)
	a.mu.Unlock()
	st, err := a.cfg.Model.AddPod(sim.PodSpec{
		PodKey:     key,
		UID:        string(pod.UID),
		Node:       node.info.Name,
		Labels:     pod.Labels,
		Containers: cachedSimContainers(pod),
	}, now)
	if err != nil {
		return err
	}
	if err := a.patchStatus(ctx, pod, runningStatus(pod, node, st, ip)); err != nil {
		a.cfg.Model.RemovePod(st.PodKey, st.UID, now)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return nil
}

func (a *Agent) patchStatus(ctx context.Context, pod *v1.Pod, status v1.PodStatus) error {
	body, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = a.cfg.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, body,
		metav1.PatchOptions{}, "status")
	return err
}

// forceDelete finishes a graceful deletion as the kubelet does once the
// containers have stopped: delete with grace 0, guarded by the UID.
func (a *Agent) forceDelete(ctx context.Context, pod *v1.Pod) error {
	uid := pod.UID
	err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// RestartContainer restarts a container in the model and reports the
// restart in the pod status, as a kubelet would after a crash.
func (a *Agent) RestartContainer(ctx context.Context, namespace, name, container string) (sim.ContainerState, error) {
	pod, err := a.pods.Pods(namespace).Get(name)
	if err != nil {
		return sim.ContainerState{}, err
	}
	node, ours := a.byName[pod.Spec.NodeName]
	if !ours {
		return sim.ContainerState{}, fmt.Errorf("pod %s/%s is not on a sandbox node", namespace, name)
	}
	st, err := a.cfg.Model.RestartContainer(sim.PodKey{Namespace: namespace, Name: name}, container, time.Now())
	if err != nil {
		return sim.ContainerState{}, err
	}
	ip := node.info.InternalIP
	if p, err := parseAddr(pod.Status.PodIP); err == nil {
		ip = p
	}
	if err := a.patchStatus(ctx, pod, runningStatus(pod, node, st, ip)); err != nil {
		return sim.ContainerState{}, err
	}
	for _, c := range st.Containers {
		if c.Name == container {
			return c, nil
		}
	}
	return sim.ContainerState{}, fmt.Errorf("%w %q", sim.ErrUnknownContainer, container)
}

// RunningPods counts the pods the simulated kubelets currently run.
func (a *Agent) RunningPods() int {
	return a.cfg.Model.Counts().Pods
}

// CreatePod creates a pod from a control-API description.
func (a *Agent) CreatePod(ctx context.Context, p scenario.Pod) (*v1.Pod, error) {
	if p.Node != "" {
		if _, ok := a.byName[p.Node]; !ok {
			return nil, fmt.Errorf("%w %q", sim.ErrUnknownNode, p.Node)
		}
	}
	return a.cfg.Client.CoreV1().Pods(p.Namespace).Create(ctx, podObject(p), metav1.CreateOptions{})
}

// DeletePod deletes a pod gracefully; the agent then finishes it.
func (a *Agent) DeletePod(ctx context.Context, namespace, name string) error {
	return a.cfg.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
}
