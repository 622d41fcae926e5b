package tests

// Container lifecycles metrics-server must follow as upstream does: a fresh
// container served after one scrape, a restart hiding the pod until its
// history is rebuilt, finished init containers left out and sidecars kept.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/scenario"
)

// TestFreshPodIsServedAfterOneScrape: a container between 10 s and one
// resolution old gets a synthetic zero-CPU sample at its start time, so its
// pod is served after a single scrape with window = its age. A new instance
// scrapes at once when it starts, so starting one while the pod is 12 s old
// (resolution 30 s) makes its first scrape fall inside that range.
func TestFreshPodIsServedAfterOneScrape(t *testing.T) {
	ctx := context.Background()
	const ns, name, ctr = "default", "e2e-fresh", "main"
	const resolution = 30 * time.Second
	createControlPod(t, controlapi.PodRequest{
		Namespace: ns, Name: name, Labels: map[string]string{"app": name},
		Containers: []scenario.Container{{Name: ctr, Usage: scenario.UsageSpec{
			CPU: ptr(scenario.MustQuantity("120m")), Memory: ptr(scenario.MustQuantity("48Mi")),
		}}},
	})
	var started time.Time
	eventually(t, 30*time.Second, "the kubelet reports the new pod", func() (bool, string) {
		s, err := control.Sample(ctx, client.SampleQuery{Namespace: ns, Pod: name, Container: ctr})
		if err != nil {
			return false, err.Error()
		}
		started = s.StartTime
		return true, ""
	})
	// Not an assertion on speed: this places the new instance's first
	// scrape while the container is between 10 s and the resolution old.
	time.Sleep(time.Until(started.Add(12 * time.Second)))
	ready := startExtraInstanceAsync(t, "fresh", "--metric-resolution="+resolution.String())
	instance := waitForInstanceRecord(t, "fresh")

	path := metricsAPI + "/namespaces/" + ns + "/pods/" + name
	var pm podMetricsJSON
	// The second scrape is a resolution after the first: the pod must be
	// served well before it.
	eventually(t, resolution/2, "the pod served by the new instance after its first scrape", func() (bool, string) {
		// The record exists before the instance listens: a refused
		// connection means "not yet", like any other non-200 answer.
		r, err := httpsTry(instance.URL(), path, nil, adminIdentity(t), "")
		if err != nil {
			return false, err.Error()
		}
		if r.status != 200 {
			return false, r.String()
		}
		mustJSON(t, path, r, &pm)
		return true, ""
	})
	families, _ := selfMetrics(t, instance)
	if ticks := families["metrics_server_manager_tick_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); ticks != 1 {
		t.Errorf("the pod was read after %d scrape cycles, want exactly 1", ticks)
	}
	last, err := sampleAt(ctx, client.SampleQuery{Namespace: ns, Pod: name, Container: ctr, Node: podNode(t, ns, name)}, pm.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	startNs, err := startNanos(last.StartTimeText)
	if err != nil {
		t.Fatal(err)
	}
	age := time.Duration(pm.Timestamp.UnixNano() - startNs)
	if pm.Window != age.String() || age < freshContainerMinAge || age >= resolution {
		t.Errorf("window %s, want the container's age %s (between %s and %s)", pm.Window, age, freshContainerMinAge, resolution)
	}
	pods := apiPods(t)
	if err := verifyPodMetrics(ctx, pm, expectationFor(pods[ns+"/"+name]), resolution, noNodeWindow); err != nil {
		t.Error(err)
	}
	if err := ready(); err != nil {
		t.Error(err)
	}
}

func noNodeWindow(time.Time) (time.Duration, bool) { return 0, false }

// createControlPod creates a pod through the control endpoint and deletes it
// (waiting until it is gone) when the test ends.
func createControlPod(t *testing.T, req controlapi.PodRequest) {
	t.Helper()
	ctx := context.Background()
	if _, err := control.CreatePod(ctx, req); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = control.DeletePod(ctx, req.Namespace, req.Name)
		waitPodGone(t, req.Namespace, req.Name)
	})
}

func waitPodGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "pod "+ns+"/"+name+" deleted", func() (bool, string) {
		out, err := kubectlErr("-n", ns, "get", "pod", name)
		return err != nil && strings.Contains(out, "NotFound"), out
	})
}

func podNode(t *testing.T, ns, name string) string {
	t.Helper()
	pod, ok := apiPods(t)[ns+"/"+name]
	if !ok {
		t.Fatalf("pod %s/%s does not exist", ns, name)
	}
	return pod.Spec.NodeName
}

// waitForStore waits until the registered instance stores a new scrape (a
// node's timestamp changes) and returns when it saw that.
func waitForStore(t *testing.T) time.Time {
	t.Helper()
	before := fingerprint(nodeMetricsList(t, metricsAPI+"/nodes").Items)
	eventually(t, 2*defaultResolution, "the next scrape stored", func() (bool, string) {
		return fingerprint(nodeMetricsList(t, metricsAPI+"/nodes").Items) != before, before
	})
	return time.Now()
}

// TestRestartedContainerIsHiddenUntilItsHistoryIsRebuilt: a container that
// restarted since the last scrape has no usable history (its counter was
// reset), so at the next scrape its pod is left out of lists and a GET is a
// 404; one scrape later it is back, with values from the new counter only.
func TestRestartedContainerIsHiddenUntilItsHistoryIsRebuilt(t *testing.T) {
	ctx := context.Background()
	pods := apiPods(t)
	var target, sibling *corev1.Pod
	for _, key := range sortedKeys(pods) {
		p := pods[key]
		if target == nil && p.Namespace == "team-a" && strings.HasPrefix(p.Name, "filler-") && len(p.Spec.Containers) == 2 {
			target = p
		}
	}
	if target == nil {
		t.Fatal("no two-container filler pod in team-a")
	}
	for _, key := range sortedKeys(pods) {
		if p := pods[key]; sibling == nil && p != target && p.Spec.NodeName == target.Spec.NodeName && p.Status.Phase == corev1.PodRunning {
			sibling = p
		}
	}
	if sibling == nil {
		t.Fatalf("no other pod on %s tells which scrape a list reflects", target.Spec.NodeName)
	}
	ns, name, ctr := target.Namespace, target.Name, target.Spec.Containers[0].Name
	path := metricsAPI + "/namespaces/" + ns + "/pods/" + name
	t.Logf("restarting %s/%s container %s on %s", ns, name, ctr, target.Spec.NodeName)

	for attempt := 1; attempt <= 3; attempt++ {
		// Not an assertion on speed: restarting 7 s after a scrape makes
		// the new container younger than 10 s at the next one, too young
		// for the fresh-container shortcut.
		stored := waitForStore(t)
		time.Sleep(time.Until(stored.Add(7 * time.Second)))
		restart, err := control.Restart(ctx, ns, name, ctr)
		if err != nil {
			t.Fatal(err)
		}
		var list podMetricsListJSON
		var scrapeTs time.Time
		eventually(t, 2*defaultResolution, "a scrape after the restart", func() (bool, string) {
			list = podMetricsList(t, metricsAPI+"/pods")
			s, ok := list.find(sibling.Namespace, sibling.Name)
			scrapeTs = s.Timestamp
			return ok && !s.Timestamp.Before(restart.StartedAt), fmt.Sprintf("sibling at %s, restart at %s", s.Timestamp, restart.StartedAt)
		})
		if age := scrapeTs.Sub(restart.StartedAt); age >= freshContainerMinAge {
			t.Logf("attempt %d: the restart came %s before the scrape (the fresh-container shortcut applies); again", attempt, age)
			continue
		}
		if _, ok := list.find(ns, name); ok {
			t.Fatalf("%s/%s is still listed at %s, %s after its container restarted", ns, name, scrapeTs, scrapeTs.Sub(restart.StartedAt))
		}
		r := apiGet(t, path, adminIdentity(t))
		if s, _ := podMetricsList(t, metricsAPI+"/pods").find(sibling.Namespace, sibling.Name); s.Timestamp.Equal(scrapeTs) {
			expectStatus(t, "GET while hidden", r, failureStatus(404, "NotFound", fmt.Sprintf(`podmetrics.metrics.k8s.io "%s/%s" not found`, ns, name),
				map[string]any{"name": ns + "/" + name, "group": "metrics.k8s.io", "kind": "podmetrics"}))
		}

		var pm podMetricsJSON
		eventually(t, 2*defaultResolution, "the pod served again", func() (bool, string) {
			r := apiGet(t, path, adminIdentity(t))
			if r.status != 200 {
				return false, r.String()
			}
			mustJSON(t, path, r, &pm)
			return true, ""
		})
		window, err := time.ParseDuration(pm.Window)
		if err != nil || pm.Timestamp.Add(-window).Before(restart.StartedAt) {
			t.Errorf("served over %s to %s, which reaches back before the restart at %s", pm.Window, pm.Timestamp, restart.StartedAt)
		}
		checkPod(t, ctx, "after the restart", pm, apiPods(t), true)
		return
	}
	t.Fatal("no attempt placed the restart more than 5 s before a scrape")
}

// TestFinishedInitContainersAreNotReportedAndSidecarsAre uses a pod with a
// finished init container and a restartable one (a sidecar).
func TestFinishedInitContainersAreNotReportedAndSidecarsAre(t *testing.T) {
	ctx := context.Background()
	const ns, name = "default", "e2e-sidecar"
	kubectlApply(t, `apiVersion: v1
kind: Pod
metadata:
  name: e2e-sidecar
  namespace: default
  labels: {app: e2e-sidecar}
spec:
  initContainers:
  - {name: migrate, image: registry.k8s.io/pause:3.10}
  - name: proxy
    image: registry.k8s.io/pause:3.10
    restartPolicy: Always
    resources: {requests: {cpu: 20m, memory: 32Mi}}
  containers:
  - name: app
    image: registry.k8s.io/pause:3.10
    resources: {requests: {cpu: 100m, memory: 64Mi}}
`)
	t.Cleanup(func() {
		_, _ = kubectlErr("-n", ns, "delete", "pod", name, "--wait=false")
		waitPodGone(t, ns, name)
	})
	path := metricsAPI + "/namespaces/" + ns + "/pods/" + name
	var pm podMetricsJSON
	eventually(t, 3*defaultResolution, "the pod served", func() (bool, string) {
		r := apiGet(t, path, adminIdentity(t))
		if r.status != 200 {
			return false, r.String()
		}
		mustJSON(t, path, r, &pm)
		return true, ""
	})
	var names []string
	for _, c := range pm.Containers {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"app", "proxy"}) {
		t.Errorf("containers %v, want [app proxy]: the sidecar, not the finished init container", names)
	}
	checkPod(t, ctx, "GET", pm, apiPods(t), true)
}
