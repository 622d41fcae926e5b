package tests

// The Helm chart manifests/chart/metrics-server. With default values it must
// render exactly the objects of manifests/components.yaml (the chart is not
// generated from the kustomize sources, nor they from it: this test is what
// keeps them in step), and its other values must render what they say.
// helm is e2e/bin/helm, built by e2e/helm/build from the module e2e/helm.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// helmBuild builds e2e/bin/helm from the module e2e/helm.
var helmBuild = &goProgramBuild{script: "helm/build"}

// helmCLI runs e2e/bin/helm, building it first (once per test binary), with
// empty config, cache and data directories of its own. stdout is returned;
// err carries stderr.
func helmCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helmBuild.ensure(t)
	home := t.TempDir()
	cmd := exec.Command(filepath.Join(e2eDir, "bin", "helm"), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, errOut.Bytes())
	}
	return out.String(), nil
}

func helmChartDir() string {
	return filepath.Join(repoDir, "manifests", "chart", "metrics-server")
}

// chartObject is one rendered or manifest object, as decoded from YAML.
type chartObject = map[string]any

// chartRender is one `helm template` of the chart.
type chartRender struct {
	text    string
	objects []chartObject
}

// helmTemplate renders the chart as release metrics-server in kube-system
// with these values (YAML; empty for the defaults).
func helmTemplate(t *testing.T, values string) chartRender {
	t.Helper()
	return helmTemplateAs(t, "metrics-server", "kube-system", values)
}

func helmTemplateAs(t *testing.T, release, namespace, values string) chartRender {
	t.Helper()
	text, err := helmTemplateErr(t, release, namespace, values)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := parseChartObjects([]byte(text))
	if err != nil {
		t.Fatalf("helm template output: %v\n%s", err, text)
	}
	return chartRender{text: text, objects: objects}
}

func helmTemplateErr(t *testing.T, release, namespace, values string) (string, error) {
	t.Helper()
	args := []string{"template", release, helmChartDir(), "--namespace", namespace}
	if values != "" {
		// Not under t.TempDir(): its name comes from the test's, and helm
		// splits --values at commas.
		dir, err := os.MkdirTemp("", "helm-values")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		file := filepath.Join(dir, "values.yaml")
		if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", file)
	}
	return helmCLI(t, args...)
}

// parseChartObjects decodes a multi-document YAML stream, skipping empty
// documents (helm's "# Source:" comments).
func parseChartObjects(data []byte) ([]chartObject, error) {
	decoder := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []chartObject
	for {
		var obj chartObject
		if err := decoder.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, err
		}
		if len(obj) > 0 {
			objects = append(objects, obj)
		}
	}
}

func readManifestObjects(t *testing.T, file string) []chartObject {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoDir, "manifests", file))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := parseChartObjects(data)
	if err != nil || len(objects) == 0 {
		t.Fatalf("%s: %d objects, %v", file, len(objects), err)
	}
	return objects
}

// chartObjectKey is an object's identity: Kind namespace/name.
func chartObjectKey(obj chartObject) string {
	meta, _ := obj["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	kind, _ := obj["kind"].(string)
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// diffChartObjects compares two sets of objects by identity, in any order,
// and reports every object missing or extra and, for each object in both,
// the first path where they differ. Empty means equal.
func diffChartObjects(want, got []chartObject) []string {
	var problems []string
	index := func(objects []chartObject, what string) map[string]chartObject {
		m := map[string]chartObject{}
		for _, obj := range objects {
			key := chartObjectKey(obj)
			if _, dup := m[key]; dup {
				problems = append(problems, fmt.Sprintf("%s: twice in the %s", key, what))
			}
			m[key] = obj
		}
		return m
	}
	wantByKey, gotByKey := index(want, "manifest"), index(got, "chart's render")
	for _, obj := range want {
		key := chartObjectKey(obj)
		g, ok := gotByKey[key]
		if !ok {
			problems = append(problems, key+": in the manifest, not rendered by the chart")
			continue
		}
		if d := firstChartDifference("", obj, g); d != "" {
			problems = append(problems, key+": "+d)
		}
	}
	for _, obj := range got {
		if key := chartObjectKey(obj); wantByKey[key] == nil {
			problems = append(problems, key+": rendered by the chart, not in the manifest")
		}
	}
	return problems
}

// firstChartDifference returns the first path (in sorted key order) where got
// differs from want, with both values, or "" when they are equal.
func firstChartDifference(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			wv, inWant := w[k]
			gv, inGot := g[k]
			switch {
			case !inGot:
				return fmt.Sprintf("%s: the manifest has %s, the chart renders nothing", p, chartJSON(wv))
			case !inWant:
				return fmt.Sprintf("%s: the chart renders %s, the manifest has nothing", p, chartJSON(gv))
			}
			if d := firstChartDifference(p, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		for i := range min(len(w), len(g)) {
			if d := firstChartDifference(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s: the manifest has %d items %s, the chart renders %d %s",
				path, len(w), chartJSON(w), len(g), chartJSON(g))
		}
		return ""
	}
	if chartJSON(want) == chartJSON(got) {
		return ""
	}
	return fmt.Sprintf("%s: the manifest has %s, the chart renders %s", path, chartJSON(want), chartJSON(got))
}

func chartJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// ---- looking into a render ----

// object returns the rendered object of this kind and name (any namespace).
func (r chartRender) object(t *testing.T, kind, name string) chartObject {
	t.Helper()
	if obj := r.find(kind, name); obj != nil {
		return obj
	}
	t.Fatalf("no %s %s rendered; rendered: %v", kind, name, r.keys())
	return nil
}

func (r chartRender) find(kind, name string) chartObject {
	for _, obj := range r.objects {
		if obj["kind"] == kind && chartField(obj, "metadata", "name") == name {
			return obj
		}
	}
	return nil
}

func (r chartRender) kinds(kind string) []chartObject {
	var out []chartObject
	for _, obj := range r.objects {
		if obj["kind"] == kind {
			out = append(out, obj)
		}
	}
	return out
}

func (r chartRender) keys() []string {
	var keys []string
	for _, obj := range r.objects {
		keys = append(keys, chartObjectKey(obj))
	}
	return keys
}

// container is the Deployment's metrics-server container.
func (r chartRender) container(t *testing.T, deployment string) chartObject {
	t.Helper()
	containers, _ := chartField(r.object(t, "Deployment", deployment), "spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("Deployment %s has containers %s, want one", deployment, chartJSON(containers))
	}
	return containers[0].(chartObject)
}

func (r chartRender) args(t *testing.T, deployment string) []string {
	t.Helper()
	var args []string
	list, _ := r.container(t, deployment)["args"].([]any)
	for _, a := range list {
		args = append(args, fmt.Sprint(a))
	}
	return args
}

// chartField returns the value at a path of map keys, or nil.
func chartField(obj any, path ...string) any {
	for _, k := range path {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil
		}
		obj = m[k]
	}
	return obj
}

// expectChartField checks the value at a path, compared as JSON (so 2 and
// 2.0 are the same number); want nil means the field must be absent.
func expectChartField(t *testing.T, obj chartObject, want any, path ...string) {
	t.Helper()
	got := chartField(obj, path...)
	if chartJSON(got) != chartJSON(want) {
		t.Errorf("%s: %s is %s, want %s", chartObjectKey(obj), strings.Join(path, "."), chartJSON(got), chartJSON(want))
	}
}

// namedItem returns the item of a list (volumes, volumeMounts) with this name.
func namedItem(list any, name string) chartObject {
	items, _ := list.([]any)
	for _, item := range items {
		if m, ok := item.(chartObject); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// ---- values ----

// haValues turn the chart into manifests/high-availability.yaml.
const haValues = `
replicas: 2
updateStrategy:
  rollingUpdate:
    maxUnavailable: 1
podDisruptionBudget:
  enabled: true
  minAvailable: 1
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchLabels:
            k8s-app: metrics-server
        namespaces:
          - kube-system
        topologyKey: kubernetes.io/hostname
`

// The args components.yaml passes.
var defaultChartArgs = []string{
	"--cert-dir=/tmp",
	"--secure-port=10250",
	"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
	"--kubelet-use-node-status-port",
	"--metric-resolution=15s",
}

// existingSecretValues serve a certificate from a Secret, with its CA in
// apiService.caBundle.
func existingSecretValues(caPEM string) string {
	return fmt.Sprintf("tls:\n  type: existingSecret\n  existingSecret:\n    name: metrics-server-tls\napiService:\n  caBundle: %s\n",
		chartJSON(caPEM))
}

// selfSignedPEM is a throwaway self-signed CA certificate and its key, PEM
// encoded.
func selfSignedPEM(t *testing.T, commonName string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// TestHelmChartLintsAndRendersTheManifest lints the chart, proves that its
// defaults render components.yaml and the high-availability values
// high-availability.yaml, checks what each other value renders, and submits
// the renders that need no CRDs to the sandbox's kube-apiserver with
// server-side dry run.
func TestHelmChartLintsAndRendersTheManifest(t *testing.T) {
	caPEM, _ := selfSignedPEM(t, "metrics-server-helm-test-ca")

	t.Run("lint", func(t *testing.T) {
		out, err := helmCLI(t, "lint", "--strict", helmChartDir())
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("helm lint --strict:\n%s", out)
		}
	})

	t.Run("defaults render components.yaml", func(t *testing.T) {
		want := readManifestObjects(t, "components.yaml")
		got := helmTemplate(t, "").objects
		for _, p := range diffChartObjects(want, got) {
			t.Error(p)
		}
		if len(want) != len(got) {
			t.Errorf("components.yaml has %d objects, the chart renders %d", len(want), len(got))
		}
	})

	t.Run("high-availability values render high-availability.yaml", func(t *testing.T) {
		want := readManifestObjects(t, "high-availability.yaml")
		got := helmTemplate(t, haValues).objects
		// The one known difference: the chart labels its PodDisruptionBudget as
		// it labels every object; the kustomize component adds it unlabelled.
		for _, obj := range got {
			if obj["kind"] == "PodDisruptionBudget" {
				meta := obj["metadata"].(chartObject)
				if chartJSON(meta["labels"]) != `{"k8s-app":"metrics-server"}` {
					t.Errorf("PodDisruptionBudget labels %s", chartJSON(meta["labels"]))
				}
				delete(meta, "labels")
			}
		}
		for _, p := range diffChartObjects(want, got) {
			t.Error(p)
		}
	})

	t.Run("values", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			values string
			check  func(t *testing.T, r chartRender)
		}{
			{"replicas and a PodDisruptionBudget by maxUnavailable", "replicas: 3\npodDisruptionBudget:\n  enabled: true\n  maxUnavailable: 1\n", func(t *testing.T, r chartRender) {
				d := r.object(t, "Deployment", "metrics-server")
				expectChartField(t, d, 3, "spec", "replicas")
				pdb := r.object(t, "PodDisruptionBudget", "metrics-server")
				expectChartField(t, pdb, "kube-system", "metadata", "namespace")
				expectChartField(t, pdb, 1, "spec", "maxUnavailable")
				expectChartField(t, pdb, nil, "spec", "minAvailable")
				expectChartField(t, pdb, chartField(d, "spec", "selector", "matchLabels"), "spec", "selector", "matchLabels")
			}},
			{"hostNetwork", "hostNetwork:\n  enabled: true\ncontainerPort: 4443\n", func(t *testing.T, r chartRender) {
				d := r.object(t, "Deployment", "metrics-server")
				expectChartField(t, d, true, "spec", "template", "spec", "hostNetwork")
				c := r.container(t, "metrics-server")
				expectChartField(t, c, []any{map[string]any{"name": "https", "containerPort": 4443, "protocol": "TCP"}}, "ports")
				if args := r.args(t, "metrics-server"); !slices.Contains(args, "--secure-port=4443") || slices.Contains(args, "--secure-port=10250") {
					t.Errorf("args %q, want --secure-port=4443 only", args)
				}
				svc := r.object(t, "Service", "metrics-server")
				if port := chartField(svc, "spec", "ports").([]any)[0].(chartObject); port["targetPort"] != "https" || chartJSON(port["port"]) != "443" {
					t.Errorf("Service port %s", chartJSON(port))
				}
			}},
			{"cert-manager TLS", "tls:\n  type: cert-manager\n", func(t *testing.T, r chartRender) {
				issuer := r.object(t, "Issuer", "metrics-server-issuer")
				expectChartField(t, issuer, "kube-system", "metadata", "namespace")
				expectChartField(t, issuer, map[string]any{}, "spec", "selfSigned")
				cert := r.object(t, "Certificate", "metrics-server")
				expectChartField(t, cert, "kube-system", "metadata", "namespace")
				expectChartField(t, cert, map[string]any{"group": "cert-manager.io", "kind": "Issuer", "name": "metrics-server-issuer"}, "spec", "issuerRef")
				if names, _ := chartField(cert, "spec", "dnsNames").([]any); !slices.Contains(names, any("metrics-server.kube-system.svc")) {
					t.Errorf("Certificate dnsNames %s lack the name the aggregator dials", chartJSON(names))
				}
				checkServedFromSecret(t, r, fmt.Sprint(chartField(cert, "spec", "secretName")))
				for _, api := range r.kinds("APIService") {
					expectChartField(t, api, "kube-system/metrics-server", "metadata", "annotations", "cert-manager.io/inject-ca-from")
					expectChartField(t, api, nil, "spec", "insecureSkipTLSVerify")
					expectChartField(t, api, nil, "spec", "caBundle")
				}
				if n := len(r.kinds("APIService")); n != 2 {
					t.Errorf("%d APIServices, want 2", n)
				}
			}},
			{"cert-manager TLS from an existing issuer", "tls:\n  type: cert-manager\n  certManager:\n    existingIssuer:\n      enabled: true\n      kind: ClusterIssuer\n      name: cluster-ca\n", func(t *testing.T, r chartRender) {
				if issuers := r.kinds("Issuer"); len(issuers) != 0 {
					t.Errorf("Issuers rendered: %s", chartJSON(issuers))
				}
				cert := r.object(t, "Certificate", "metrics-server")
				expectChartField(t, cert, map[string]any{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "cluster-ca"}, "spec", "issuerRef")
			}},
			{"existingSecret TLS", existingSecretValues(caPEM), func(t *testing.T, r chartRender) {
				checkServedFromSecret(t, r, "metrics-server-tls")
				for _, api := range r.kinds("APIService") {
					expectChartField(t, api, base64.StdEncoding.EncodeToString([]byte(caPEM)), "spec", "caBundle")
					expectChartField(t, api, nil, "spec", "insecureSkipTLSVerify")
					expectChartField(t, api, nil, "metadata", "annotations")
				}
				if len(r.kinds("Certificate"))+len(r.kinds("Issuer")) != 0 {
					t.Errorf("cert-manager objects rendered: %v", r.keys())
				}
			}},
			{"serviceMonitor", "serviceMonitor:\n  enabled: true\n  interval: 30s\n  scrapeTimeout: 5s\n  additionalLabels:\n    release: prometheus\n", func(t *testing.T, r chartRender) {
				sm := r.object(t, "ServiceMonitor", "metrics-server")
				expectChartField(t, sm, "kube-system", "metadata", "namespace")
				expectChartField(t, sm, map[string]any{"k8s-app": "metrics-server", "release": "prometheus"}, "metadata", "labels")
				svc := r.object(t, "Service", "metrics-server")
				for k, v := range chartField(sm, "spec", "selector", "matchLabels").(chartObject) {
					if chartField(svc, "metadata", "labels", k) != v {
						t.Errorf("ServiceMonitor selects %s=%v, the Service is labelled %s", k, v, chartJSON(chartField(svc, "metadata", "labels")))
					}
				}
				expectChartField(t, sm, []any{"kube-system"}, "spec", "namespaceSelector", "matchNames")
				endpoints, _ := chartField(sm, "spec", "endpoints").([]any)
				if len(endpoints) != 1 {
					t.Fatalf("ServiceMonitor endpoints %s", chartJSON(endpoints))
				}
				ep := endpoints[0].(chartObject)
				for k, want := range map[string]string{"port": "https", "scheme": "https", "path": "/metrics", "interval": "30s", "scrapeTimeout": "5s"} {
					expectChartField(t, ep, want, k)
				}
				if args := r.args(t, "metrics-server"); !slices.Contains(args, "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics") {
					t.Errorf("args %q do not let Prometheus read /metrics", args)
				}
			}},
			{"apiService.create=false", "apiService:\n  create: false\n", func(t *testing.T, r chartRender) {
				if apis := r.kinds("APIService"); len(apis) != 0 {
					t.Errorf("APIServices rendered: %s", chartJSON(apis))
				}
				r.object(t, "Deployment", "metrics-server")
			}},
			{"apiService.v1.create=false", "apiService:\n  v1:\n    create: false\n", func(t *testing.T, r chartRender) {
				apis := r.kinds("APIService")
				if len(apis) != 1 || chartField(apis[0], "metadata", "name") != "v1beta1.metrics.k8s.io" {
					t.Errorf("APIServices rendered: %s, want v1beta1.metrics.k8s.io only", chartJSON(apis))
				}
			}},
			{"extra args and resources", "args:\n  - --kubelet-insecure-tls\n  - --v=2\nresources:\n  requests:\n    cpu: 50m\n    memory: 100Mi\n  limits:\n    memory: 200Mi\n", func(t *testing.T, r chartRender) {
				want := append(slices.Clone(defaultChartArgs), "--kubelet-insecure-tls", "--v=2")
				if args := r.args(t, "metrics-server"); !slices.Equal(args, want) {
					t.Errorf("args %q, want %q", args, want)
				}
				expectChartField(t, r.container(t, "metrics-server"),
					map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "100Mi"}, "limits": map[string]any{"memory": "200Mi"}}, "resources")
			}},
			{"pod, image and service settings", `
image:
  repository: registry.example/metrics-server
  tag: v9.9.9
  pullPolicy: Always
imagePullSecrets: [{name: pull}]
commonLabels: {team: observability}
podLabels: {tier: control}
podAnnotations: {note: hello}
tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
nodeSelector: {kubernetes.io/os: linux, node-role.kubernetes.io/control-plane: ""}
priorityClassName: ""
podSecurityContext: {fsGroup: 65534}
serviceAccount: {create: false, name: existing-sa}
rbac: {create: false}
service: {type: NodePort, port: 8443, annotations: {a: b}, labels: {c: d}}
revisionHistoryLimit: 3
schedulerName: custom-scheduler
dnsConfig: {options: [{name: ndots, value: "2"}]}
topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}]
deploymentAnnotations: {owner: platform}
`, func(t *testing.T, r chartRender) {
				d := r.object(t, "Deployment", "metrics-server")
				c := r.container(t, "metrics-server")
				expectChartField(t, c, "registry.example/metrics-server:v9.9.9", "image")
				expectChartField(t, c, "Always", "imagePullPolicy")
				pod := chartField(d, "spec", "template").(chartObject)
				expectChartField(t, pod, []any{map[string]any{"name": "pull"}}, "spec", "imagePullSecrets")
				expectChartField(t, pod, map[string]any{"k8s-app": "metrics-server", "tier": "control"}, "metadata", "labels")
				expectChartField(t, pod, map[string]any{"note": "hello"}, "metadata", "annotations")
				expectChartField(t, pod, nil, "spec", "priorityClassName")
				expectChartField(t, pod, "existing-sa", "spec", "serviceAccountName")
				expectChartField(t, pod, map[string]any{"fsGroup": 65534}, "spec", "securityContext")
				expectChartField(t, pod, map[string]any{"kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}, "spec", "nodeSelector")
				expectChartField(t, pod, []any{map[string]any{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}}, "spec", "tolerations")
				expectChartField(t, pod, "custom-scheduler", "spec", "schedulerName")
				expectChartField(t, pod, map[string]any{"options": []any{map[string]any{"name": "ndots", "value": "2"}}}, "spec", "dnsConfig")
				expectChartField(t, pod, []any{map[string]any{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}},
					"spec", "topologySpreadConstraints")
				expectChartField(t, d, 3, "spec", "revisionHistoryLimit")
				expectChartField(t, d, map[string]any{"owner": "platform"}, "metadata", "annotations")
				expectChartField(t, d, map[string]any{"k8s-app": "metrics-server"}, "spec", "selector", "matchLabels")
				expectChartField(t, d, map[string]any{"k8s-app": "metrics-server", "team": "observability"}, "metadata", "labels")
				svc := r.object(t, "Service", "metrics-server")
				expectChartField(t, svc, "NodePort", "spec", "type")
				expectChartField(t, svc, map[string]any{"a": "b"}, "metadata", "annotations")
				expectChartField(t, svc, map[string]any{"k8s-app": "metrics-server", "team": "observability", "c": "d"}, "metadata", "labels")
				if port := chartField(svc, "spec", "ports").([]any)[0].(chartObject); chartJSON(port["port"]) != "8443" {
					t.Errorf("Service port %s", chartJSON(port))
				}
				for _, api := range r.kinds("APIService") {
					expectChartField(t, api, 8443, "spec", "service", "port")
				}
				for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding"} {
					if objs := r.kinds(kind); len(objs) != 0 {
						t.Errorf("%s rendered: %s", kind, chartJSON(objs))
					}
				}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.check(t, helmTemplate(t, c.values))
			})
		}
	})

	t.Run("another release name and namespace", func(t *testing.T) {
		r := helmTemplateAs(t, "ms", "monitoring", "")
		d := r.object(t, "Deployment", "ms-metrics-server")
		expectChartField(t, d, "monitoring", "metadata", "namespace")
		expectChartField(t, d, map[string]any{"k8s-app": "ms-metrics-server"}, "spec", "selector", "matchLabels")
		expectChartField(t, d, "ms-metrics-server", "spec", "template", "spec", "serviceAccountName")
		rb := r.object(t, "RoleBinding", "ms-metrics-server-auth-reader")
		expectChartField(t, rb, "kube-system", "metadata", "namespace")
		expectChartField(t, rb, []any{map[string]any{"kind": "ServiceAccount", "name": "ms-metrics-server", "namespace": "monitoring"}}, "subjects")
		r.object(t, "ClusterRole", "system:ms-metrics-server-aggregated-reader")
		r.object(t, "ClusterRoleBinding", "ms-metrics-server:system:auth-delegator")
		for _, api := range r.kinds("APIService") {
			expectChartField(t, api, map[string]any{"name": "ms-metrics-server", "namespace": "monitoring"}, "spec", "service")
		}
	})

	t.Run("invalid values fail", func(t *testing.T) {
		for _, c := range []struct{ values, message string }{
			{"tls:\n  type: helm\n", "tls.type must be metrics-server, existingSecret or cert-manager"},
			{"tls:\n  type: existingSecret\n", "tls.existingSecret.name is required"},
			{"tls:\n  type: cert-manager\n  certManager:\n    existingIssuer:\n      enabled: true\n",
				"tls.certManager.existingIssuer.name is required"},
			{"podDisruptionBudget:\n  enabled: true\n  minAvailable: 1\n  maxUnavailable: 1\n",
				"set minAvailable or maxUnavailable, not both"},
			{"addonResizer:\n  enabled: true\n", "addonResizer is not supported"},
		} {
			out, err := helmTemplateErr(t, "metrics-server", "kube-system", c.values)
			if err == nil || !strings.Contains(err.Error(), c.message) {
				t.Errorf("values %q: want an error with %q, got %v\n%s", c.values, c.message, err, out)
			}
		}
	})

	// The sandbox has no cert-manager or Prometheus Operator CRDs: only
	// renders of built-in kinds can be submitted.
	// tls.existingSecret.lookup: on install and upgrade (here `helm template
	// --dry-run=server`, which may look objects up) the APIServices get the
	// Secret's ca.crt.
	t.Run("existingSecret CA looked up in the cluster", func(t *testing.T) {
		const secret = "metrics-server-helm-test-tls"
		certPEM, keyPEM := selfSignedPEM(t, "metrics-server.kube-system.svc")
		t.Cleanup(func() { _, _ = kubectlErr("delete", "secret", "-n", "kube-system", secret, "--ignore-not-found") })
		b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
		kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: kube-system
type: kubernetes.io/tls
data:
  ca.crt: %s
  tls.crt: %s
  tls.key: %s
`, secret, b64(caPEM), b64(certPEM), b64(keyPEM)))
		// The objects exist already (the sandbox installed components.yaml):
		// --take-ownership stands in for Helm's ownership check; nothing is changed.
		text, err := helmCLI(t, "template", "metrics-server", helmChartDir(), "--namespace", "kube-system",
			"--dry-run=server", "--take-ownership", "--kubeconfig", env["KUBECONFIG"],
			"--set", "tls.type=existingSecret", "--set", "tls.existingSecret.name="+secret)
		if err != nil {
			t.Fatal(err)
		}
		objects, err := parseChartObjects([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		r := chartRender{text: text, objects: objects}
		checkServedFromSecret(t, r, secret)
		for _, api := range r.kinds("APIService") {
			expectChartField(t, api, b64(caPEM), "spec", "caBundle")
			expectChartField(t, api, nil, "spec", "insecureSkipTLSVerify")
		}
		if n := len(r.kinds("APIService")); n != 2 {
			t.Errorf("%d APIServices, want 2", n)
		}
	})

	t.Run("server-side dry run", func(t *testing.T) {
		dryRunLine := regexp.MustCompile(`^\S+ (created|configured|unchanged) \(server dry run\)$`)
		for _, c := range []struct{ name, values string }{
			{"defaults", ""},
			{"high-availability", haValues},
			// Not existingSecret TLS: its caBundle cannot be applied over the sandbox's live
			// APIServices, which another manager set to insecureSkipTLSVerify (the API refuses
			// both); its render is checked above.
		} {
			t.Run(c.name, func(t *testing.T) {
				r := helmTemplate(t, c.values)
				cmd := exec.Command("kubectl", "--kubeconfig", env["KUBECONFIG"], "apply", "--dry-run=server", "-f", "-")
				cmd.Stdin = strings.NewReader(r.text)
				var out, errOut bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errOut
				if err := cmd.Run(); err != nil {
					t.Fatalf("kubectl apply --dry-run=server: %v\n%s%s", err, out.Bytes(), errOut.Bytes())
				}
				var accepted int
				for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					if dryRunLine.MatchString(line) {
						accepted++
					} else {
						t.Errorf("unexpected output line %q", line)
					}
				}
				if accepted != len(r.objects) {
					t.Errorf("%d objects accepted, the render has %d:\n%s", accepted, len(r.objects), out.Bytes())
				}
			})
		}
	})
}

// checkServedFromSecret checks that the Deployment mounts this Secret and
// passes its tls.crt and tls.key to metrics-server.
func checkServedFromSecret(t *testing.T, r chartRender, secret string) {
	t.Helper()
	d := r.object(t, "Deployment", "metrics-server")
	volume := namedItem(chartField(d, "spec", "template", "spec", "volumes"), "tls-certs")
	if chartJSON(volume) != chartJSON(map[string]any{"name": "tls-certs", "secret": map[string]any{"secretName": secret}}) {
		t.Errorf("volume tls-certs is %s, want Secret %s", chartJSON(volume), secret)
	}
	c := r.container(t, "metrics-server")
	mount := namedItem(c["volumeMounts"], "tls-certs")
	if mount == nil || mount["readOnly"] != true {
		t.Fatalf("volumeMounts %s, want tls-certs read-only", chartJSON(c["volumeMounts"]))
	}
	dir := fmt.Sprint(mount["mountPath"])
	args := r.args(t, "metrics-server")
	for _, want := range []string{"--tls-cert-file=" + dir + "/tls.crt", "--tls-private-key-file=" + dir + "/tls.key"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
}
