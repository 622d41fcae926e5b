package supervisor

import (
	"fmt"
	"net/netip"

	"metrics-server-rs/e2e/internal/hostnet"
	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/workload"
)

// NodeInfos gives every scenario node its kubelet addresses: loopback
// 127.a.b.c always, and an address in externalPrefix when one is given.
// `up` (for the certificates) and the supervisor (for the listeners and Node
// objects) both call it, so they always agree.
func NodeInfos(r *scenario.Resolved, externalPrefix string) ([]workload.NodeInfo, error) {
	var prefix netip.Prefix
	if externalPrefix != "" {
		p, err := netip.ParsePrefix(externalPrefix)
		if err != nil {
			return nil, fmt.Errorf("external kubelet range: %w", err)
		}
		prefix = p
	}
	out := make([]workload.NodeInfo, 0, len(r.Nodes))
	for _, n := range r.Nodes {
		lo, err := hostnet.LoopbackAddress(n.Index)
		if err != nil {
			return nil, err
		}
		info := workload.NodeInfo{Node: n, InternalIP: lo}
		if prefix.IsValid() {
			ext, err := hostnet.ExternalAddress(prefix, n.Index)
			if err != nil {
				return nil, err
			}
			info.ExternalIP = ext
		}
		out = append(out, info)
	}
	return out, nil
}

// Identities lists what each kubelet serving certificate must name.
func Identities(nodes []workload.NodeInfo) []pki.NodeIdentity {
	out := make([]pki.NodeIdentity, 0, len(nodes))
	for _, n := range nodes {
		ips := []netip.Addr{n.InternalIP}
		if n.ExternalIP.IsValid() {
			ips = append(ips, n.ExternalIP)
		}
		out = append(out, pki.NodeIdentity{Name: n.Name, IPs: ips})
	}
	return out
}
