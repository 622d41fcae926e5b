package tests

// The HorizontalPodAutoscaler controller (kube-controller-manager, reading
// the metrics API as system:serviceaccount:kube-system:horizontal-pod-autoscaler)
// scales the scenario's hpa-demo Deployment (requests: cpu 200m, memory 64Mi;
// usage 50m, 40Mi) on the usage the simulated kubelets report (issue 5).

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/scenario"
)

const hpaSelector = "app=hpa-demo"

// hpaStatus is the part of an autoscaling/v2 HPA status the tests read.
type hpaStatus struct {
	CurrentReplicas int32 `json:"currentReplicas"`
	DesiredReplicas int32 `json:"desiredReplicas"`
	CurrentMetrics  []struct {
		Resource struct {
			Name    string `json:"name"`
			Current struct {
				AverageUtilization *int32 `json:"averageUtilization"`
				AverageValue       string `json:"averageValue"`
			} `json:"current"`
		} `json:"resource"`
	} `json:"currentMetrics"`
	Conditions []struct {
		Type, Status, Reason, Message string
	} `json:"conditions"`
}

func (s hpaStatus) condition(kind string) string {
	for _, c := range s.Conditions {
		if c.Type == kind {
			return c.Status + "/" + c.Reason
		}
	}
	return ""
}

func (s hpaStatus) utilization(resource string) (int32, bool) {
	for _, m := range s.CurrentMetrics {
		if m.Resource.Name == resource && m.Resource.Current.AverageUtilization != nil {
			return *m.Resource.Current.AverageUtilization, true
		}
	}
	return 0, false
}

func readHPA(t *testing.T, name string) (hpaStatus, string) {
	t.Helper()
	out := kubectl(t, "-n", "default", "get", "hpa", name, "-o", "jsonpath={.status}")
	var s hpaStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("HPA %s status: %v\n%s", name, err, out)
	}
	return s, out
}

func deploymentReplicas(t *testing.T) int {
	t.Helper()
	out := kubectl(t, "-n", "default", "get", "deployment", "hpa-demo", "-o", "jsonpath={.spec.replicas}")
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("replicas %q: %v", out, err)
	}
	return n
}

func setHPADemoUsage(t *testing.T, cpu, memory string) {
	t.Helper()
	req := controlapi.UsageRequest{Namespace: "default", Selector: hpaSelector}
	if cpu != "" {
		req.CPU = ptr(scenario.MustQuantity(cpu))
	}
	if memory != "" {
		req.Memory = ptr(scenario.MustQuantity(memory))
	}
	if _, err := control.SetUsage(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// createHPA creates an HPA on hpa-demo (1 to 3 replicas) and, when the test
// ends, deletes it, restores the scenario's usage and scales back to 1.
func createHPA(t *testing.T, name, metric string) {
	t.Helper()
	kubectlApply(t, fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: %s
  namespace: default
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hpa-demo}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: %s
`, name, metric))
	t.Cleanup(func() {
		_, _ = kubectlErr("-n", "default", "delete", "hpa", name)
		setHPADemoUsage(t, "50m", "40Mi")
		_, _ = kubectlErr("-n", "default", "scale", "deployment", "hpa-demo", "--replicas=1")
		eventually(t, 60*time.Second, "hpa-demo back to one pod", func() (bool, string) {
			out, _ := kubectlErr("-n", "default", "get", "pods", "-l", hpaSelector, "--no-headers")
			return len(strings.Split(strings.TrimSpace(out), "\n")) == 1, out
		})
	})
}

// waitReplicas waits for the HPA to have set the Deployment's replicas.
func waitReplicas(t *testing.T, hpa string, want int, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%s scales hpa-demo to %d", hpa, want), func() (bool, string) {
		_, raw := readHPA(t, hpa)
		got := deploymentReplicas(t)
		return got == want, fmt.Sprintf("replicas %d; HPA status %s", got, raw)
	})
}

func TestHPAScalesOnCPUUpAndDown(t *testing.T) {
	createHPA(t, "e2e-cpu", "{name: cpu, target: {type: Utilization, averageUtilization: 50}}")
	// 50m of a 200m request: the HPA reads exactly 25 %.
	eventually(t, 60*time.Second, "the HPA reads CPU from the metrics API", func() (bool, string) {
		s, raw := readHPA(t, "e2e-cpu")
		u, ok := s.utilization("cpu")
		return s.condition("ScalingActive") == "True/ValidMetricFound" && ok && u == 25, raw
	})
	setHPADemoUsage(t, "400m", "")
	waitReplicas(t, "e2e-cpu", 3, 2*time.Minute)
	setHPADemoUsage(t, "20m", "")
	// Downscale stabilization is 15 s in the sandbox.
	waitReplicas(t, "e2e-cpu", 1, 3*time.Minute)
}

func TestHPAScalesOnMemory(t *testing.T) {
	createHPA(t, "e2e-memory", "{name: memory, target: {type: Utilization, averageUtilization: 80}}")
	// 40Mi of a 64Mi request: 62.5 %, which the HPA truncates to 62.
	eventually(t, 60*time.Second, "the HPA reads memory from the metrics API", func() (bool, string) {
		s, raw := readHPA(t, "e2e-memory")
		u, ok := s.utilization("memory")
		return s.condition("ScalingActive") == "True/ValidMetricFound" && ok && u == 62, raw
	})
	if n := deploymentReplicas(t); n != 1 {
		t.Fatalf("hpa-demo has %d replicas before the memory rises", n)
	}
	setHPADemoUsage(t, "", "128Mi")
	waitReplicas(t, "e2e-memory", 3, 2*time.Minute)
}
