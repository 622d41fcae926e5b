// Package metricsserver installs metrics-server into a running sandbox the way
// manifests/components.yaml describes it, and runs the binary outside the
// cluster as that ServiceAccount.
//
// What a cluster would do for the Deployment is done here by hand: the binary
// runs on this host with the Deployment's arguments (plus what running outside
// a pod needs: a kubeconfig holding the ServiceAccount's token, a cert dir, an
// address the aggregator can reach), and the aggregator reaches it through the
// manifest's Service, made selector-less, and an EndpointSlice pointing at the
// host's non-loopback address (EndpointSlices reject loopback addresses).
package metricsserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// Namespace and names fixed by the manifests.
const (
	Namespace      = "kube-system"
	ServiceAccount = "metrics-server"
	ServiceName    = "metrics-server"
	APIServiceName = "v1beta1.metrics.k8s.io"
	// APIServiceNameV1 registers metrics.k8s.io/v1 (the same data, preferred by newer clients).
	APIServiceNameV1 = "v1.metrics.k8s.io"
	fieldManager     = "metrics-server-rs-sandbox"
)

// Manifest is components.yaml split into objects.
type Manifest struct {
	Objects []*unstructured.Unstructured
}

// ReadManifest parses a multi-document YAML file.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var m Manifest
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		m.Objects = append(m.Objects, obj)
	}
	if len(m.Objects) == 0 {
		return nil, fmt.Errorf("%s: no objects", path)
	}
	return &m, nil
}

// Deployment returns the manifest's metrics-server Deployment.
func (m *Manifest) Deployment() (*unstructured.Unstructured, error) {
	for _, obj := range m.Objects {
		if obj.GetKind() == "Deployment" && obj.GetName() == ServiceName {
			return obj, nil
		}
	}
	return nil, errors.New("the manifest has no metrics-server Deployment")
}

// ContainerArgs are the args of the Deployment's metrics-server container.
func (m *Manifest) ContainerArgs() ([]string, error) {
	deployment, err := m.Deployment()
	if err != nil {
		return nil, err
	}
	containers, _, err := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return nil, err
	}
	for _, c := range containers {
		container, ok := c.(map[string]any)
		if !ok || container["name"] != ServiceName {
			continue
		}
		args, _, err := unstructured.NestedStringSlice(container, "args")
		return args, err
	}
	return nil, errors.New("the Deployment has no metrics-server container")
}

// Clients bundles what installing needs.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
}

// NewClients builds clients from a discovery-capable clientset.
func NewClients(kube *kubernetes.Clientset, dyn dynamic.Interface) Clients {
	cached := memory.NewMemCacheClient(discovery.DiscoveryInterface(kube.Discovery()))
	return Clients{Kube: kube, Dynamic: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached)}
}

func (c Clients) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.Mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return c.Dynamic.Resource(mapping.Resource), nil
}

// DryRun submits every object with server-side dry run: the real apiserver
// validates and admits them (RBAC escalation checks included) without storing.
func (c Clients) DryRun(ctx context.Context, m *Manifest) error {
	for _, obj := range m.Objects {
		if err := c.apply(ctx, obj, true); err != nil {
			return fmt.Errorf("dry run of %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

func (c Clients) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	client, err := c.resource(obj)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = client.Apply(ctx, obj.GetName(), obj, opts)
	return err
}

// routed says whether APIService obj is one of apiVersions (nil: all are).
func routed(obj *unstructured.Unstructured, apiVersions []string) bool {
	if apiVersions == nil {
		return true
	}
	version, _, _ := unstructured.NestedString(obj.Object, "spec", "version")
	return slices.Contains(apiVersions, version)
}

func (c Clients) delete(ctx context.Context, obj *unstructured.Unstructured) error {
	client, err := c.resource(obj)
	if err != nil {
		return err
	}
	err = client.Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Register applies everything the manifest holds except the Deployment; the
// Service loses its selector (there are no pods for it to select) and an
// EndpointSlice sends its https port to address:port.
// InstallIdentity applies what the binary's identity needs — the
// ServiceAccount and its RBAC — without the Service and APIService, for an
// instance that does not take over the aggregator's route.
func (c Clients) InstallIdentity(ctx context.Context, m *Manifest) error {
	for _, obj := range m.Objects {
		switch obj.GetKind() {
		case "Deployment", "Service", "APIService":
			continue
		}
		if err := c.apply(ctx, obj.DeepCopy(), false); err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// apiVersions names the metrics.k8s.io versions to route (nil: all the
// manifest registers); the manifest's other APIServices are deleted, as on a
// cluster running an implementation that serves only those (the Go original
// serves v1beta1 alone).
func (c Clients) Register(ctx context.Context, m *Manifest, address string, port int32, apiVersions []string) error {
	for _, obj := range m.Objects {
		if obj.GetKind() == "Deployment" {
			continue
		}
		if obj.GetKind() == "APIService" && !routed(obj, apiVersions) {
			if err := c.delete(ctx, obj); err != nil {
				return fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
			continue
		}
		obj = obj.DeepCopy()
		if obj.GetKind() == "Service" {
			unstructured.RemoveNestedField(obj.Object, "spec", "selector")
		}
		if err := c.apply(ctx, obj, false); err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ServiceName + "-sandbox",
			Namespace: Namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: ServiceName,
				discoveryv1.LabelManagedBy:   fieldManager,
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{address},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	slices := c.Kube.DiscoveryV1().EndpointSlices(Namespace)
	existing, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{FieldManager: fieldManager})
	case err == nil:
		slice.ResourceVersion = existing.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{FieldManager: fieldManager})
	}
	if err != nil {
		return fmt.Errorf("EndpointSlice %s: %w", slice.Name, err)
	}
	return nil
}

// Unregister removes the EndpointSlice, so the APIService turns unavailable
// instead of pointing at a stopped process.
func (c Clients) Unregister(ctx context.Context) error {
	err := c.Kube.DiscoveryV1().EndpointSlices(Namespace).Delete(ctx, ServiceName+"-sandbox", metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// ServiceAccountToken asks the TokenRequest API for a token of the
// metrics-server ServiceAccount, as the kubelet would for its pod.
func (c Clients) ServiceAccountToken(ctx context.Context, seconds int64) (string, error) {
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(seconds)}}
	token, err := c.Kube.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, ServiceAccount, request, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", Namespace, ServiceAccount, err)
	}
	return token.Status.Token, nil
}

// WriteServiceAccountKubeconfig writes a kubeconfig that authenticates with
// the token in tokenFile (re-read by clients, as a projected token is).
func WriteServiceAccountKubeconfig(path, server, caFile, tokenFile string) error {
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    tokenFile: %s
contexts:
- name: sandbox
  context:
    cluster: sandbox
    user: %s
    namespace: %s
current-context: sandbox
`, server, caFile, ServiceAccount, tokenFile, ServiceAccount, Namespace)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o600)
}

// OutOfClusterArgs adapts the Deployment's args to a process on this host:
// the cert dir and port are the instance's own and the listener binds the
// address the EndpointSlice names; everything else is kept as written.
func OutOfClusterArgs(deploymentArgs []string, certDir, bindAddress string, port int, kubeconfig string) []string {
	var args []string
	for _, arg := range deploymentArgs {
		name := strings.SplitN(strings.TrimLeft(arg, "-"), "=", 2)[0]
		switch name {
		case "cert-dir", "secure-port", "bind-address", "kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig":
			continue
		}
		args = append(args, arg)
	}
	return append(args,
		"--cert-dir="+certDir,
		fmt.Sprintf("--secure-port=%d", port),
		"--bind-address="+bindAddress,
		"--kubeconfig="+kubeconfig,
		// Upstream's Go binary needs these outside a pod; ours defaults them to --kubeconfig.
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
	)
}
