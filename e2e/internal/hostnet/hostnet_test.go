package hostnet

import (
	"net/netip"
	"testing"
)

func TestLoopbackPlanSkipsZeroAnd255(t *testing.T) {
	cases := map[int]string{0: "127.1.0.1", 253: "127.1.0.254", 254: "127.1.1.1", 254*256 - 1: "127.1.255.254", 254 * 256: "127.2.0.1"}
	for i, want := range cases {
		got, err := LoopbackAddress(i)
		if err != nil || got.String() != want {
			t.Errorf("LoopbackAddress(%d) = %v, %v; want %s", i, got, err, want)
		}
	}
	if _, err := LoopbackAddress(-1); err == nil {
		t.Error("negative index accepted")
	}
}

func TestExternalPlanMirrorsLoopbackLowBytes(t *testing.T) {
	p := netip.MustParsePrefix(DefaultExternalPrefix)
	for _, i := range []int{0, 1, 253, 254, 5000} {
		ext, err := ExternalAddress(p, i)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := LoopbackAddress(i)
		if ext.As4()[2] != lo.As4()[2] || ext.As4()[3] != lo.As4()[3] || !p.Contains(ext) {
			t.Errorf("node %d: external %s vs loopback %s", i, ext, lo)
		}
		if !ext.IsGlobalUnicast() {
			t.Errorf("%s is not global unicast; the apiserver would refuse to proxy", ext)
		}
	}
	if _, err := ExternalAddress(netip.MustParsePrefix("10.0.0.0/24"), 0); err == nil {
		t.Error("a /24 accepted")
	}
}
