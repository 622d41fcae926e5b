package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"testing"
)

func TestEnsureIssuesOnceThenReuses(t *testing.T) {
	dir := t.TempDir()
	plan := Plan{
		Dir:       dir,
		HostIP:    netip.MustParseAddr("192.0.2.2"),
		ServiceIP: netip.MustParseAddr("10.96.0.1"),
		Nodes: []NodeIdentity{
			{Name: "node-1", IPs: []netip.Addr{netip.MustParseAddr("127.1.0.1")}},
			{Name: "node-2", IPs: []netip.Addr{netip.MustParseAddr("127.1.0.2"), netip.MustParseAddr("10.253.0.2")}},
		},
	}
	b, err := Ensure(plan)
	if err != nil {
		t.Fatal(err)
	}
	if b.Issued != 3+7+2 {
		t.Fatalf("first run issued %d certificates", b.Issued)
	}
	again, err := Ensure(plan)
	if err != nil {
		t.Fatal(err)
	}
	if again.Issued != 0 {
		t.Fatalf("warm run re-issued %d certificates", again.Issued)
	}
	// A changed host IP re-issues only the apiserver certificate.
	plan.HostIP = netip.MustParseAddr("192.0.2.3")
	third, err := Ensure(plan)
	if err != nil {
		t.Fatal(err)
	}
	if third.Issued != 1 {
		t.Fatalf("host IP change re-issued %d certificates", third.Issued)
	}
	assertVerifies(t, b, b.KubeletPair("node-2"), "10.253.0.2", x509.ExtKeyUsageServerAuth)
	assertVerifies(t, b, b.APIServer, "192.0.2.3", x509.ExtKeyUsageServerAuth)
	assertVerifies(t, b, b.Admin, "", x509.ExtKeyUsageClientAuth)
	if _, err := tls.LoadX509KeyPair(b.RogueKubelet.Cert, b.RogueKubelet.Key); err != nil {
		t.Fatal(err)
	}
	if rogue, _ := loadCert(b.RogueKubelet.Cert); rogue.CheckSignatureFrom(mustCert(t, b.CA.Cert)) == nil {
		t.Fatal("rogue certificate chains to the cluster CA")
	}
}

func assertVerifies(t *testing.T, b *Bundle, p Pair, ip string, usage x509.ExtKeyUsage) {
	t.Helper()
	if _, err := tls.LoadX509KeyPair(p.Cert, p.Key); err != nil {
		t.Fatalf("%s: %v", p.Cert, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(mustCert(t, b.CA.Cert))
	leaf := mustCert(t, p.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Fatalf("%s: %v", p.Cert, err)
	}
	if ip != "" {
		if err := leaf.VerifyHostname(ip); err != nil {
			t.Fatalf("%s: %v", p.Cert, err)
		}
	}
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := loadCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCorruptFilesAreReplaced(t *testing.T) {
	dir := t.TempDir()
	plan := Plan{Dir: dir}
	b, err := Ensure(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.Admin.Cert, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(plan)
	if err != nil {
		t.Fatal(err)
	}
	if again.Issued != 1 {
		t.Fatalf("re-issued %d, want 1", again.Issued)
	}
}
