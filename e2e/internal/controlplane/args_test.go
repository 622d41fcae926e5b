package controlplane

import (
	"slices"
	"strings"
	"testing"
	"time"

	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/scenario"
)

func TestAPIServerArgsTurnAggregationFullyOn(t *testing.T) {
	args := APIServerArgs(APIServerConfig{Port: 6443, HostIP: "192.0.2.2", EtcdURL: "http://127.0.0.1:2379", PKI: pki.Layout("/run/pki"), PreferExternalIP: true})
	for _, want := range []string{
		"--enable-aggregator-routing=true",
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-client-ca-file=/run/pki/front-proxy-ca.crt",
		"--proxy-client-cert-file=/run/pki/front-proxy-client.crt",
		"--advertise-address=192.0.2.2",
		"--authorization-mode=Node,RBAC",
		"--kubelet-certificate-authority=/run/pki/ca.crt",
		"--kubelet-preferred-address-types=ExternalIP,InternalIP,Hostname",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("missing %s in %v", want, args)
		}
	}
}

func TestControllerManagerArgsCarryTheHPATunables(t *testing.T) {
	tun := scenario.ControllerManager{ExtraControllers: []string{"endpointslice"}}
	tun.HPASyncPeriod.Duration = 2 * time.Second
	tun.HPADownscaleStabilization.Duration = 7 * time.Second
	tun.HPACPUInitializationPeriod.Duration = time.Minute
	tun.HPAInitialReadinessDelay.Duration = 3 * time.Second
	args := strings.Join(ControllerManagerArgs(ControllerManagerConfig{Kubeconfig: "k", PKI: pki.Layout("/p"), Tunables: tun}), " ")
	for _, want := range []string{
		"--horizontal-pod-autoscaler-sync-period=2s",
		"--horizontal-pod-autoscaler-downscale-stabilization=7s",
		"--horizontal-pod-autoscaler-cpu-initialization-period=1m0s",
		"--horizontal-pod-autoscaler-initial-readiness-delay=3s",
		"--use-service-account-credentials=true",
		"horizontalpodautoscaling,clusterrole-aggregation,root-ca-cert-publisher,endpointslice",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("missing %s in %s", want, args)
		}
	}
}
