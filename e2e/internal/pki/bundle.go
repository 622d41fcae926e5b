package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
)

// Identities of the sandbox's clients (CN and O as Kubernetes reads them).
const (
	AdminUser             = "kubernetes-admin"
	ControllerManagerUser = "system:kube-controller-manager"
	KubeletClientUser     = "kube-apiserver-kubelet-client"
	FrontProxyClientUser  = "front-proxy-client"
	// KubeletWebhookUser is the node identity the simulated kubelets use for
	// their TokenReviews and SubjectAccessReviews (the Node authorizer grants
	// those to any system:node:* user).
	KubeletWebhookUser = "system:node:sandbox-kubelets"
	MastersGroup       = "system:masters"
	NodesGroup         = "system:nodes"
)

// NodeIdentity is what a kubelet serving certificate names.
type NodeIdentity struct {
	Name string
	IPs  []netip.Addr
}

// Plan lists the addresses the certificates must cover.
type Plan struct {
	Dir       string
	HostIP    netip.Addr
	ServiceIP netip.Addr
	Nodes     []NodeIdentity
}

// Pair is a certificate file and its key file.
type Pair struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Bundle holds the paths of everything Ensure produced.
type Bundle struct {
	Dir               string
	CA                Pair
	APIServer         Pair
	FrontProxyCA      Pair
	FrontProxyClient  Pair
	ServiceAccountKey string
	ServiceAccountPub string
	Admin             Pair
	ControllerManager Pair
	APIServerKubelet  Pair
	KubeletWebhook    Pair
	RogueCA           Pair
	RogueKubelet      Pair
	// Issued counts certificates (re)issued by this call; 0 on a warm start.
	Issued int
}

// KubeletPair is the serving certificate of one simulated kubelet.
func (b *Bundle) KubeletPair(node string) Pair {
	return pairIn(filepath.Join(b.Dir, "kubelets"), node)
}

func pairIn(dir, name string) Pair {
	return Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
}

// Layout returns where Ensure puts everything under dir, without touching files.
func Layout(dir string) *Bundle {
	return &Bundle{
		Dir:               dir,
		CA:                pairIn(dir, "ca"),
		APIServer:         pairIn(dir, "apiserver"),
		FrontProxyCA:      pairIn(dir, "front-proxy-ca"),
		FrontProxyClient:  pairIn(dir, "front-proxy-client"),
		ServiceAccountKey: filepath.Join(dir, "sa.key"),
		ServiceAccountPub: filepath.Join(dir, "sa.pub"),
		Admin:             pairIn(dir, "admin"),
		ControllerManager: pairIn(dir, "controller-manager"),
		APIServerKubelet:  pairIn(dir, "apiserver-kubelet-client"),
		KubeletWebhook:    pairIn(dir, "kubelet-webhook-client"),
		RogueCA:           pairIn(dir, "rogue-ca"),
		RogueKubelet:      pairIn(dir, "rogue-kubelet"),
	}
}

// Ensure creates or refreshes the whole PKI for a plan.
func Ensure(plan Plan) (*Bundle, error) {
	dir := plan.Dir
	if err := os.MkdirAll(filepath.Join(dir, "kubelets"), 0o755); err != nil {
		return nil, err
	}
	b := Layout(dir)
	ca, fresh, err := ensureCA(dir, "ca", "kubernetes")
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	b.Issued += btoi(fresh)
	frontCA, fresh, err := ensureCA(dir, "front-proxy-ca", "front-proxy-ca")
	if err != nil {
		return nil, fmt.Errorf("front-proxy CA: %w", err)
	}
	b.Issued += btoi(fresh)
	rogueCA, fresh, err := ensureCA(dir, "rogue-ca", "sandbox-unrelated-ca")
	if err != nil {
		return nil, fmt.Errorf("rogue CA: %w", err)
	}
	b.Issued += btoi(fresh)

	apiserverIPs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if plan.HostIP.IsValid() {
		apiserverIPs = append(apiserverIPs, plan.HostIP)
	}
	if plan.ServiceIP.IsValid() {
		apiserverIPs = append(apiserverIPs, plan.ServiceIP)
	}
	leaves := []struct {
		ca   *Authority
		pair Pair
		spec leafSpec
	}{
		{ca, b.APIServer, leafSpec{
			commonName: "kube-apiserver", server: true, ips: apiserverIPs,
			dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		}},
		{frontCA, b.FrontProxyClient, leafSpec{commonName: FrontProxyClientUser, client: true}},
		{ca, b.Admin, leafSpec{commonName: AdminUser, orgs: []string{MastersGroup}, client: true}},
		{ca, b.ControllerManager, leafSpec{commonName: ControllerManagerUser, client: true}},
		{ca, b.APIServerKubelet, leafSpec{commonName: KubeletClientUser, orgs: []string{MastersGroup}, client: true}},
		{ca, b.KubeletWebhook, leafSpec{commonName: KubeletWebhookUser, orgs: []string{NodesGroup}, client: true}},
		{rogueCA, b.RogueKubelet, leafSpec{commonName: "rogue-kubelet", server: true, dnsNames: []string{"rogue-kubelet"}}},
	}
	for _, l := range leaves {
		issued, err := ensureLeaf(l.ca, l.pair.Cert, l.pair.Key, l.spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(l.pair.Cert), err)
		}
		b.Issued += btoi(issued)
	}
	if err := ensureServiceAccountKey(b.ServiceAccountKey, b.ServiceAccountPub); err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	n, err := ensureKubeletCerts(b, ca, plan.Nodes)
	if err != nil {
		return nil, err
	}
	b.Issued += n
	return b, nil
}

// ensureKubeletCerts checks or issues one serving certificate per node, in
// parallel: at thousands of nodes the signature checks alone take a while.
func ensureKubeletCerts(b *Bundle, ca *Authority, nodes []NodeIdentity) (int, error) {
	var issued atomic.Int64
	var firstErr error
	var errOnce sync.Once
	work := make(chan NodeIdentity)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				p := b.KubeletPair(n.Name)
				did, err := ensureLeaf(ca, p.Cert, p.Key, leafSpec{
					commonName: n.Name, server: true, dnsNames: []string{n.Name}, ips: n.IPs,
				})
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("kubelet certificate of %s: %w", n.Name, err) })
					continue
				}
				if did {
					issued.Add(1)
				}
			}
		}()
	}
	for _, n := range nodes {
		work <- n
	}
	close(work)
	wg.Wait()
	return int(issued.Load()), firstErr
}

func ensureServiceAccountKey(keyPath, pubPath string) error {
	if serviceAccountKeyValid(keyPath, pubPath) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
}

// serviceAccountKeyValid reports whether the stored key pair can be reused.
func serviceAccountKeyValid(keyPath, pubPath string) bool {
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return false
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return false
	}
	pubPEM, err := os.ReadFile(pubPath)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(pubPEM)
	if block == nil {
		return false
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	return err == nil && publicKeysEqual(key.Public(), pub)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
