package tests

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"metrics-server-rs/e2e/internal/metricsserver"
)

// TestInstallManifestsPassServerSideDryRun submits every object of the
// install manifests to the real kube-apiserver with server-side dry run, so
// validation, defaulting and admission (RBAC escalation checks included) run
// without storing anything (issue 5).
func TestInstallManifestsPassServerSideDryRun(t *testing.T) {
	dryRunLine := regexp.MustCompile(`^\S+ (created|configured|unchanged) \(server dry run\)$`)
	for _, file := range []string{"components.yaml", "high-availability.yaml"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(repoDir, "manifests", file)
			manifest, err := metricsserver.ReadManifest(path)
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := (kubectlBinary{path: "kubectl"}).run("apply", "--dry-run=server", "-f", path)
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -f %s: %v\n%s%s", file, err, stdout, stderr)
			}
			var accepted int
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if dryRunLine.MatchString(line) {
					accepted++
				} else {
					t.Errorf("unexpected output line %q", line)
				}
			}
			if accepted != len(manifest.Objects) {
				t.Errorf("%d objects accepted, the manifest has %d:\n%s", accepted, len(manifest.Objects), stdout)
			}
		})
	}
}

func TestAPIServiceIsAvailable(t *testing.T) {
	var service struct {
		Spec struct {
			Service struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
				Port      int    `json:"port"`
			} `json:"service"`
			Group                 string `json:"group"`
			Version               string `json:"version"`
			InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify"`
		} `json:"spec"`
		Status struct {
			Conditions []struct {
				Type, Status, Reason, Message string
			} `json:"conditions"`
		} `json:"status"`
	}
	out := kubectl(t, "get", "apiservice", metricsserver.APIServiceName, "-o", "json")
	if err := json.Unmarshal([]byte(out), &service); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := service.Spec
	if s.Service.Namespace != "kube-system" || s.Service.Name != "metrics-server" || s.Service.Port != 443 ||
		s.Group != "metrics.k8s.io" || s.Version != "v1beta1" || !s.InsecureSkipTLSVerify {
		t.Errorf("APIService spec %+v", s)
	}
	available := false
	for _, c := range service.Status.Conditions {
		if c.Type == "Available" {
			available = c.Status == "True" && c.Reason == "Passed" && c.Message == "all checks passed"
			if !available {
				t.Errorf("Available condition %+v", c)
			}
		}
	}
	if !available {
		t.Errorf("APIService %s is not Available: %+v", metricsserver.APIServiceName, service.Status.Conditions)
	}
}
