package workload

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
)

// CreateWorkload creates the scenario's namespaces (with their default
// ServiceAccount, so pod admission need not wait for the controller),
// Deployments and plain pods. Pods are created in parallel; progress goes to
// the log every few seconds.
func (a *Agent) CreateWorkload(ctx context.Context, r *scenario.Resolved) error {
	namespaces := append([]string{"default"}, r.Namespaces...)
	err := parallel(ctx, a.cfg.Workers, len(namespaces), func(ctx context.Context, i int) error {
		ns := namespaces[i]
		_, err := a.cfg.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		_, err = a.cfg.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("default service account in %s: %w", ns, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range r.Deployments {
		if _, err := a.cfg.Client.AppsV1().Deployments(d.Namespace).Create(ctx, deploymentObject(d), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	var created atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				klog.InfoS("creating pods", "created", created.Load(), "total", len(r.Pods), "running", a.RunningPods())
			}
		}
	}()
	return parallel(ctx, a.cfg.Workers, len(r.Pods), func(ctx context.Context, i int) error {
		if err := a.createAndStart(ctx, r.Pods[i]); err != nil {
			return err
		}
		created.Add(1)
		return nil
	})
}

// createAndStart creates a scenario pod and, when it is pinned to a node,
// starts it right away with a full status update on the object the create
// returned: one write instead of waiting for the informer and patching,
// which roughly halves the apiserver's work per pod at scale. Anything that
// goes wrong after the create is left to the informer path.
func (a *Agent) createAndStart(ctx context.Context, p scenario.Pod) error {
	key := sim.PodKey{Namespace: p.Namespace, Name: p.Name}
	node, pinned := a.byName[p.Node]
	if pinned {
		a.creating.Store(key, struct{}{})
		defer func() {
			a.creating.Delete(key)
			a.queue.Add(key.String())
		}()
	}
	var pod *v1.Pod
	for attempt := 0; ; attempt++ {
		var err error
		pod, err = a.cfg.Client.CoreV1().Pods(p.Namespace).Create(ctx, podObject(p), metav1.CreateOptions{})
		if err == nil {
			break
		}
		switch {
		case apierrors.IsAlreadyExists(err):
			return nil
		case attempt < 20 && (apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) ||
			apierrors.IsForbidden(err) || apierrors.IsInternalError(err)):
			// Forbidden covers the short window before a namespace's
			// ServiceAccount is visible to admission.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
			}
		default:
			return fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	if !pinned {
		return nil // the informer path binds it
	}
	now := time.Now()
	a.mu.Lock()
	ip := node.allocatePodIP()
	a.assignLocked(key, node)
	a.mu.Unlock()
	st, err := a.cfg.Model.AddPod(sim.PodSpec{
		PodKey: key, UID: string(pod.UID), Node: node.info.Name, Labels: pod.Labels, Containers: simContainers(pod),
	}, now)
	if err != nil {
		return err
	}
	pod.Status = runningStatus(pod, node, st, ip)
	if _, err := a.cfg.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		klog.V(2).InfoS("direct status update failed; the informer path retries", "pod", key, "err", err)
		a.cfg.Model.RemovePod(key, st.UID, now)
	}
	return nil
}

func deploymentObject(d scenario.Deployment) *appsv1.Deployment {
	replicas := d.Replicas
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, Labels: d.Labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: d.Labels},
			Template: podTemplate(d.Labels, d.Containers, d.InitContainers),
		},
	}
}

// parallel runs fn(0..n-1) on `workers` goroutines and returns the first error.
func parallel(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func parseAddr(s string) (netip.Addr, error) {
	return netip.ParseAddr(s)
}
