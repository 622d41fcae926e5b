package kubelet

import (
	"runtime/debug"
	"strings"
	"sync"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
	compbasemetrics "k8s.io/component-base/metrics"
	compbaseversion "k8s.io/component-base/version"
)

// kubernetesModule is the module whose release the simulated kubelets emulate.
const kubernetesModule = "k8s.io/kubernetes"

var registryVersionOnce sync.Once

// ensureRegistryVersion makes component-base decide which deprecated metrics
// to hide as the emulated kubelet release would (e.g. hide `scrape_error`
// from 1.30 on). The sandbox binary gets the version through -ldflags; a test
// binary built without them reports v0.0.0, so the version is then taken
// from the linked k8s.io/kubernetes module.
func ensureRegistryVersion() {
	registryVersionOnce.Do(func() {
		if !strings.HasPrefix(compbaseversion.Get().GitVersion, "v0.0.0") {
			return
		}
		v := EmulatedVersion()
		compbasemetrics.BuildVersion = func() apimachineryversion.Info { return v }
	})
}

// EmulatedVersion is the Kubernetes release the simulated kubelets report.
func EmulatedVersion() apimachineryversion.Info {
	if v := compbaseversion.Get(); !strings.HasPrefix(v.GitVersion, "v0.0.0") {
		return v
	}
	info := apimachineryversion.Info{GitVersion: "v1.36.0", Major: "1", Minor: "36"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, dep := range bi.Deps {
		if dep.Path != kubernetesModule {
			continue
		}
		v := dep.Version
		if dep.Replace != nil {
			v = dep.Replace.Version
		}
		parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
		if len(parts) >= 2 {
			info = apimachineryversion.Info{GitVersion: v, Major: parts[0], Minor: parts[1]}
		}
	}
	return info
}
