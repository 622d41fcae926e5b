package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubectl runs the installed kubectl against the sandbox.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", env["KUBECONFIG"]}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// kubectlApply applies a manifest given inline.
func kubectlApply(t *testing.T, manifest string) {
	t.Helper()
	cmd := exec.Command("kubectl", "--kubeconfig", env["KUBECONFIG"], "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// kubeletResponse is one answer of a simulated kubelet.
type kubeletResponse struct {
	status int
	body   string
	header http.Header
}

// kubeletGet calls a simulated kubelet directly, verifying its certificate
// against the cluster CA, with an optional bearer token or client certificate.
func kubeletGet(t *testing.T, addr, path, token string, cert *tls.Certificate) (kubeletResponse, error) {
	t.Helper()
	caPEM, err := os.ReadFile(env["CLUSTER_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+":"+env["KUBELET_PORT"]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return kubeletResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return kubeletResponse{}, err
	}
	return kubeletResponse{status: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

func mustKubeletGet(t *testing.T, addr, path, token string, cert *tls.Certificate) kubeletResponse {
	t.Helper()
	r, err := kubeletGet(t, addr, path, token, cert)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	return r
}

func adminCert(t *testing.T) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(env["ADMIN_CERT"], env["ADMIN_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// issueClientCert signs a client certificate with the cluster CA key; the
// organizations are the identity's groups.
func issueClientCert(t *testing.T, commonName string, organizations ...string) *tls.Certificate {
	t.Helper()
	caCert, err := tls.LoadX509KeyPair(env["CLUSTER_CA"], env["CLUSTER_CA_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: commonName, Organization: organizations},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caCert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// nodeAddress returns a node's InternalIP from the control endpoint.
func nodeAddress(t *testing.T, node string) string {
	t.Helper()
	sum, err := control.Summary(context.Background(), node)
	if err != nil || len(sum.Nodes) != 1 {
		t.Fatalf("summary of %s: %v", node, err)
	}
	return sum.Nodes[0].InternalIP
}

// eventually polls cond until it holds or the deadline passes; it is for
// waiting on asynchronous state, not for asserting speed.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last state: %s", what, within, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sampleLine finds the sample line of a series in Prometheus text.
func sampleLine(text, series string) (string, bool) {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, series+" ") {
			return l, true
		}
	}
	return "", false
}

// goProgramBuild runs one of e2e's build scripts (which build Go programs of
// a module of their own when stale) once per test binary; every test needing
// the programs waits for that one run and fails with its error.
type goProgramBuild struct {
	script string // relative to e2e/
	once   sync.Once
	err    error
}

func (b *goProgramBuild) ensure(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		out, err := exec.Command(filepath.Join(e2eDir, b.script)).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("e2e/%s: %v\n%s", b.script, err, out)
		} else if len(out) > 0 {
			t.Logf("e2e/%s: %s", b.script, bytes.TrimSpace(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
}
