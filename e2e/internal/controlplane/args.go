package controlplane

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/scenario"
)

// ServiceCIDR is the cluster's service range; its first address is the
// `kubernetes` Service.
const ServiceCIDR = "10.96.0.0/16"

// ServiceAccountIssuer is the issuer of service-account tokens.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// APIServerConfig is what the kube-apiserver flags are built from.
type APIServerConfig struct {
	Port    int
	HostIP  string
	EtcdURL string
	PKI     *pki.Bundle
	// PreferExternalIP makes the apiserver dial kubelets on their ExternalIP
	// (routable) rather than the loopback InternalIP it refuses to proxy to.
	PreferExternalIP bool
	Verbosity        int
	ExtraArgs        []string
}

// APIServerArgs returns the kube-apiserver command line: aggregation fully on
// (front-proxy CA and client, request-header flags, aggregator routing to
// endpoints), Node+RBAC authorization, service-account signing, kubelet
// client certificates, and limits for thousands of nodes.
func APIServerArgs(c APIServerConfig) []string {
	p := c.PKI
	addressTypes := "InternalIP,Hostname"
	if c.PreferExternalIP {
		addressTypes = "ExternalIP,InternalIP,Hostname"
	}
	args := []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", c.Port),
		"--advertise-address=" + c.HostIP,
		"--cert-dir=" + filepath.Join(p.Dir, "apiserver-generated"),
		"--tls-cert-file=" + p.APIServer.Cert,
		"--tls-private-key-file=" + p.APIServer.Key,
		"--client-ca-file=" + p.CA.Cert,
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + p.ServiceAccountPub,
		"--service-account-signing-key-file=" + p.ServiceAccountKey,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		// Aggregation layer.
		"--requestheader-client-ca-file=" + p.FrontProxyCA.Cert,
		"--requestheader-allowed-names=" + pki.FrontProxyClientUser,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.FrontProxyClient.Cert,
		"--proxy-client-key-file=" + p.FrontProxyClient.Key,
		"--enable-aggregator-routing=true",
		// apiserver -> kubelet (node proxy, logs, exec).
		"--kubelet-client-certificate=" + p.APIServerKubelet.Cert,
		"--kubelet-client-key=" + p.APIServerKubelet.Key,
		"--kubelet-certificate-authority=" + p.CA.Cert,
		"--kubelet-preferred-address-types=" + addressTypes,
		// Scale: thousands of nodes, tens of thousands of pods.
		"--max-requests-inflight=3000",
		"--max-mutating-requests-inflight=1000",
		"--event-ttl=30m",
		"--profiling=false",
		fmt.Sprintf("--v=%d", c.Verbosity),
	}
	return append(args, c.ExtraArgs...)
}

// DefaultControllers are the controllers the sandbox runs. Node lifecycle is
// deliberately absent: the simulated nodes send no heartbeats and must stay Ready.
var DefaultControllers = []string{
	"serviceaccount", "serviceaccount-token", "namespace", "garbagecollector",
	"deployment", "replicaset", "horizontalpodautoscaling",
	"clusterrole-aggregation", "root-ca-cert-publisher",
}

// ControllerManagerConfig is what the kube-controller-manager flags are built from.
type ControllerManagerConfig struct {
	Kubeconfig string
	PKI        *pki.Bundle
	Tunables   scenario.ControllerManager
	Verbosity  int
}

// ControllerManagerArgs returns the kube-controller-manager command line.
// With --use-service-account-credentials the HPA controller calls the
// metrics API as kube-system:horizontal-pod-autoscaler, as in real clusters.
func ControllerManagerArgs(c ControllerManagerConfig) []string {
	t := c.Tunables
	controllers := append(append([]string{}, DefaultControllers...), t.ExtraControllers...)
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.PKI.ServiceAccountKey,
		"--root-ca-file=" + c.PKI.CA.Cert,
		"--cluster-name=sandbox",
		"--leader-elect=false",
		"--secure-port=0",
		"--horizontal-pod-autoscaler-sync-period=" + dur(t.HPASyncPeriod.Duration),
		"--horizontal-pod-autoscaler-downscale-stabilization=" + dur(t.HPADownscaleStabilization.Duration),
		"--horizontal-pod-autoscaler-cpu-initialization-period=" + dur(t.HPACPUInitializationPeriod.Duration),
		"--horizontal-pod-autoscaler-initial-readiness-delay=" + dur(t.HPAInitialReadinessDelay.Duration),
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		fmt.Sprintf("--v=%d", c.Verbosity),
	}
	return append(args, t.ExtraArgs...)
}

func dur(d time.Duration) string { return d.String() }
