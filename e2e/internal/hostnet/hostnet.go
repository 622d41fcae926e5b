// Package hostnet decides the sandbox's host addresses: the non-loopback
// HOST_IP the apiserver advertises (Service endpoints reject loopback), the
// per-node loopback addresses of the simulated kubelets, and the optional
// routable "external" kubelet addresses that let the apiserver's node proxy
// reach them (it refuses to proxy to non-global-unicast addresses).
package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// KubeletPort is where every simulated kubelet listens.
const KubeletPort = 10250

// FallbackHostIP is added to lo (as a /32) when the host has no usable address.
const FallbackHostIP = "10.254.254.254"

// DefaultExternalPrefix is the routable range given to kubelets (a local
// route on lo makes every address in it bindable).
const DefaultExternalPrefix = "10.253.0.0/16"

// maxIndex is how many nodes the two low address bytes can number
// (254 host bytes per /24, 256 /24s).
const maxIndex = 254 * 256

// LoopbackAddress is node i's kubelet address: 127.1.0.1, 127.1.0.2, ...,
// skipping .0 and .255 host bytes and never touching 127.0.0.1.
func LoopbackAddress(i int) (netip.Addr, error) {
	if i < 0 || i >= maxIndex*254 {
		return netip.Addr{}, fmt.Errorf("node index %d out of the loopback plan", i)
	}
	c := byte(1 + i%254)
	b := byte((i / 254) % 256)
	a := byte(1 + i/maxIndex)
	return netip.AddrFrom4([4]byte{127, a, b, c}), nil
}

// ExternalAddress is node i's address in a /16 (or larger) prefix, with the
// same low two bytes as its loopback address.
func ExternalAddress(prefix netip.Prefix, i int) (netip.Addr, error) {
	if !prefix.Addr().Is4() || prefix.Bits() > 16 {
		return netip.Addr{}, fmt.Errorf("external kubelet range %s must be an IPv4 /16 or larger", prefix)
	}
	if i < 0 || i >= maxIndex {
		return netip.Addr{}, fmt.Errorf("node index %d does not fit %s", i, prefix)
	}
	base := prefix.Masked().Addr().As4()
	base[2] = byte((i / 254) % 256)
	base[3] = byte(1 + i%254)
	return netip.AddrFrom4(base), nil
}

// LoopbackRange describes the loopback addresses of n nodes, for the env file.
func LoopbackRange(n int) string {
	first, _ := LoopbackAddress(0)
	last, err := LoopbackAddress(max(n-1, 0))
	if err != nil {
		return first.String()
	}
	return first.String() + "-" + last.String()
}

// FindHostIP returns the first global-scope IPv4 address of an up interface,
// preferring real interfaces over addresses on lo.
func FindHostIP() (netip.Addr, bool) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, false
	}
	var onLoopback netip.Addr
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipnet.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if !ip.Is4() || !ip.IsGlobalUnicast() {
				continue
			}
			if iface.Flags&net.FlagLoopback != 0 {
				if !onLoopback.IsValid() {
					onLoopback = ip
				}
				continue
			}
			return ip, true
		}
	}
	return onLoopback, onLoopback.IsValid()
}

// IsRoot reports whether host network changes are possible.
func IsRoot() bool { return os.Geteuid() == 0 }

// AddLoopbackAddress adds addr/32 to lo.
func AddLoopbackAddress(addr string) error {
	return ipCommand("addr", "add", addr+"/32", "dev", "lo")
}

// RemoveLoopbackAddress removes an address AddLoopbackAddress added.
func RemoveLoopbackAddress(addr string) error {
	return ipCommand("addr", "del", addr+"/32", "dev", "lo")
}

// HasLocalRoute reports whether prefix is already routed locally.
func HasLocalRoute(prefix string) bool {
	out, err := exec.Command("ip", "route", "show", "table", "local", prefix).Output()
	return err == nil && strings.Contains(string(out), "local "+prefix)
}

// AddLocalRoute makes every address of prefix local ("AnyIP"), so the
// simulated kubelets can bind there without one address per node.
func AddLocalRoute(prefix string) error {
	return ipCommand("route", "replace", "local", prefix, "dev", "lo")
}

// RemoveLocalRoute undoes AddLocalRoute.
func RemoveLocalRoute(prefix string) error {
	return ipCommand("route", "del", "local", prefix, "dev", "lo")
}

// ErrNoIPTool means iproute2 is missing.
var ErrNoIPTool = errors.New("the ip command (iproute2) is not installed")

func ipCommand(args ...string) error {
	if _, err := exec.LookPath("ip"); err != nil {
		return ErrNoIPTool
	}
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
