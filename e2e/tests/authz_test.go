package tests

// Authentication and authorization of the metrics API (issue 4): through the
// aggregator as ServiceAccounts with and without the aggregated reader role,
// and directly against the instance with forged, proxied and certificate
// identities.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const authzNamespace = "e2e-authz"

// serviceAccountTokens creates ServiceAccounts in authzNamespace: nobody
// (no role), reader (ClusterRoleBinding to system:aggregated-metrics-reader)
// and viewer (RoleBinding to view in namespace default, which aggregates the
// reader role), and returns a token for each.
func serviceAccountTokens(t *testing.T) map[string]string {
	t.Helper()
	kubectl(t, "create", "namespace", authzNamespace)
	t.Cleanup(func() { _, _ = kubectlErr("delete", "namespace", authzNamespace, "--wait=false") })
	for _, sa := range []string{"nobody", "reader", "viewer"} {
		kubectl(t, "-n", authzNamespace, "create", "serviceaccount", sa)
	}
	kubectl(t, "create", "clusterrolebinding", "e2e-metrics-reader", "--clusterrole=system:aggregated-metrics-reader",
		"--serviceaccount="+authzNamespace+":reader")
	t.Cleanup(func() { _, _ = kubectlErr("delete", "clusterrolebinding", "e2e-metrics-reader") })
	kubectl(t, "-n", "default", "create", "rolebinding", "e2e-metrics-viewer", "--clusterrole=view",
		"--serviceaccount="+authzNamespace+":viewer")
	t.Cleanup(func() { _, _ = kubectlErr("-n", "default", "delete", "rolebinding", "e2e-metrics-viewer") })
	for _, check := range [][]string{
		{"list", "nodes.metrics.k8s.io", "--as=system:serviceaccount:" + authzNamespace + ":reader"},
		// view gets the metrics rules from the clusterrole-aggregation controller.
		{"list", "pods.metrics.k8s.io", "-n", "default", "--as=system:serviceaccount:" + authzNamespace + ":viewer"},
	} {
		eventually(t, 30*time.Second, "RBAC: can-i "+strings.Join(check, " "), func() (bool, string) {
			out, _ := kubectlErr(append([]string{"auth", "can-i"}, check...)...)
			fields := strings.Fields(out)
			return len(fields) > 0 && fields[len(fields)-1] == "yes", out
		})
	}
	tokens := map[string]string{}
	for _, sa := range []string{"nobody", "reader", "viewer"} {
		tokens[sa] = strings.TrimSpace(kubectl(t, "-n", authzNamespace, "create", "token", sa))
	}
	return tokens
}

func serviceAccountUser(sa string) string {
	return "system:serviceaccount:" + authzNamespace + ":" + sa
}

// kubectlWithToken runs the installed kubectl as a bearer token.
func kubectlWithToken(t *testing.T, token string, args ...string) (string, string, error) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster: {server: %q, certificate-authority: %q}
users:
- name: token
  user: {token: %q}
contexts:
- name: sandbox
  context: {cluster: sandbox, user: token, namespace: default}
current-context: sandbox
`, env["APISERVER_URL"], env["CLUSTER_CA"], token)
	if err := os.WriteFile(kubeconfig, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubectlBinary{name: "installed", path: "kubectl", kubeconfig: kubeconfig}.run(args...)
}

func TestMetricsAPIAuthorizationThroughTheAggregator(t *testing.T) {
	tokens := serviceAccountTokens(t)

	t.Run("admin", func(t *testing.T) {
		if list := nodeMetricsList(t, metricsAPI+"/nodes"); len(list.Items) != testNodes {
			t.Errorf("admin sees %d nodes, want %d", len(list.Items), testNodes)
		}
	})

	t.Run("ServiceAccount without the reader role", func(t *testing.T) {
		who := identity{token: tokens["nobody"]}
		expectStatus(t, "list nodes", apiGet(t, metricsAPI+"/nodes", who), forbiddenList(serviceAccountUser("nobody"), "nodes"))
		expectStatus(t, "list pods in default", apiGet(t, metricsAPI+"/namespaces/default/pods", who), failureStatus(403, "Forbidden",
			`pods.metrics.k8s.io is forbidden: User "`+serviceAccountUser("nobody")+`" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "default"`,
			map[string]any{"group": "metrics.k8s.io", "kind": "pods"}))
		stdout, stderr, err := kubectlWithToken(t, tokens["nobody"], "top", "node")
		want := `Error from server (Forbidden): nodes.metrics.k8s.io is forbidden: User "` + serviceAccountUser("nobody") +
			`" cannot list resource "nodes" in API group "metrics.k8s.io" at the cluster scope`
		if err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("kubectl top node as nobody: err %v\nstdout %q\nstderr %q\nwant stderr %q", err, stdout, stderr, want)
		}
	})

	t.Run("ServiceAccount bound to system:aggregated-metrics-reader", func(t *testing.T) {
		who := identity{token: tokens["reader"]}
		var nodes nodeMetricsListJSON
		mustJSON(t, "list nodes", apiGet(t, metricsAPI+"/nodes", who), &nodes)
		if len(nodes.Items) != testNodes {
			t.Errorf("reader sees %d nodes, want %d", len(nodes.Items), testNodes)
		}
		var pods podMetricsListJSON
		mustJSON(t, "list pods", apiGet(t, metricsAPI+"/pods", who), &pods)
		if len(pods.Items) == 0 {
			t.Error("reader sees no pod metrics")
		}
		// (kubectl top node would also list the core Nodes, which this role does not grant.)
		stdout, stderr, err := kubectlWithToken(t, tokens["reader"], "get", "nodes.metrics.k8s.io")
		if err != nil || len(strings.Split(strings.TrimSpace(stdout), "\n")) != testNodes+1 {
			t.Errorf("kubectl get nodes.metrics.k8s.io as reader: %v\n%s%s", err, stdout, stderr)
		}
		stdout, stderr, err = kubectlWithToken(t, tokens["reader"], "top", "pod", "-A")
		if lines := strings.Split(strings.TrimSpace(stdout), "\n"); err != nil || len(lines) < 2 || !strings.HasPrefix(lines[0], "NAMESPACE ") {
			t.Errorf("kubectl top pod -A as reader: %v\n%s%s", err, stdout, stderr)
		}
	})

	t.Run("ServiceAccount bound to view in one namespace", func(t *testing.T) {
		who := identity{token: tokens["viewer"]}
		var pods podMetricsListJSON
		mustJSON(t, "list pods in default", apiGet(t, metricsAPI+"/namespaces/default/pods", who), &pods)
		if len(pods.Items) == 0 {
			t.Error("viewer sees no pod metrics in default")
		}
		expectStatus(t, "list nodes", apiGet(t, metricsAPI+"/nodes", who), forbiddenList(serviceAccountUser("viewer"), "nodes"))
	})

	t.Run("invalid token", func(t *testing.T) {
		r := apiGet(t, metricsAPI+"/nodes", identity{token: "not-a-valid-token"})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("invalid token: %s", r)
		}
		if ok, err := jsonEqual(r.body, fixture(t, "status-401-unauthorized.json")); err != nil || !ok {
			t.Errorf("401 body %s differs from status-401-unauthorized.json (%v)", r.body, err)
		}
		_, stderr, err := kubectlWithToken(t, "not-a-valid-token", "top", "node")
		if want := "error: You must be logged in to the server (the server has asked for the client to provide credentials)"; err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("kubectl top node with an invalid token: %v %q, want %q", err, stderr, want)
		}
	})

	// Straight to the instance: the aggregator's checks do not apply.
	t.Run("direct", func(t *testing.T) {
		nodesPath := metricsAPI + "/nodes"
		proxyCert, err := tls.LoadX509KeyPair(filepath.Join(env["RUN_DIR"], "pki", "front-proxy-client.crt"),
			filepath.Join(env["RUN_DIR"], "pki", "front-proxy-client.key"))
		if err != nil {
			t.Fatal(err)
		}
		asAdmin := map[string]string{"X-Remote-User": "e2e-proxied-admin", "X-Remote-Group": "system:masters"}
		expectNodes := func(what string, r response) {
			t.Helper()
			var list nodeMetricsListJSON
			if r.status != http.StatusOK {
				t.Errorf("%s: %s", what, r)
				return
			}
			mustJSON(t, what, r, &list)
			if len(list.Items) != testNodes {
				t.Errorf("%s: %d nodes, want %d", what, len(list.Items), testNodes)
			}
		}

		expectStatus(t, "no credentials", directGet(t, defaultInstance, nodesPath, anonymous), forbiddenList("system:anonymous", "nodes"))
		expectStatus(t, "identity headers without the front-proxy certificate",
			directGet(t, defaultInstance, nodesPath, identity{headers: asAdmin}), forbiddenList("system:anonymous", "nodes"))
		expectNodes("identity headers with the front-proxy certificate",
			directGet(t, defaultInstance, nodesPath, identity{cert: &proxyCert, headers: asAdmin}))
		expectStatus(t, "front-proxy user without groups",
			directGet(t, defaultInstance, nodesPath, identity{cert: &proxyCert, headers: map[string]string{"X-Remote-User": "e2e-proxied-user"}}),
			forbiddenList("e2e-proxied-user", "nodes"))
		expectNodes("cluster-CA client certificate with O=system:masters",
			directGet(t, defaultInstance, nodesPath, identity{cert: issueClientCert(t, "e2e-master", "system:masters")}))
		expectStatus(t, "cluster-CA client certificate without groups",
			directGet(t, defaultInstance, nodesPath, identity{cert: issueClientCert(t, "e2e-stranger")}), forbiddenList("e2e-stranger", "nodes"))
		expectNodes("token of the reader ServiceAccount", directGet(t, defaultInstance, nodesPath, identity{token: tokens["reader"]}))
		expectStatus(t, "token of a ServiceAccount without the role",
			directGet(t, defaultInstance, nodesPath, identity{token: tokens["nobody"]}), forbiddenList(serviceAccountUser("nobody"), "nodes"))
		r := directGet(t, defaultInstance, nodesPath, identity{token: "not-a-valid-token"})
		if ok, err := jsonEqual(r.body, fixture(t, "status-401-unauthorized.json")); r.status != http.StatusUnauthorized || err != nil || !ok {
			t.Errorf("invalid token: %s (%v)", r, err)
		}

		for _, path := range []string{"/livez", "/readyz", "/healthz"} {
			if r := directGet(t, defaultInstance, path, anonymous); r.status != http.StatusOK || string(r.body) != "ok" {
				t.Errorf("anonymous %s: %s", path, r)
			}
		}
		r = directGet(t, defaultInstance, "/metrics", anonymous)
		var status statusJSON
		_ = json.Unmarshal(r.body, &status)
		if want := `forbidden: User "system:anonymous" cannot get path "/metrics"`; r.status != http.StatusForbidden || status.Message != want {
			t.Errorf("anonymous /metrics: %s, want 403 %q", r, want)
		}
	})
}
