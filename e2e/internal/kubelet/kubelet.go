// Package kubelet serves the simulated kubelets: one HTTPS listener per node
// address, all sharing one http.Server, one authenticator and one authorizer
// (so thousands of nodes neither multiply goroutines per request nor API
// calls). Each node gets its own serving certificate, chosen by the local
// address of the connection.
//
// Responses follow a kubelet of the pinned release: /metrics/resource is
// produced by the kubelet's own resource-metrics collector and component-base
// registry; /stats/summary is the stats/v1alpha1 Summary, 1-space indented;
// authentication and authorization work as in webhook mode.
package kubelet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"
	kubeletserver "k8s.io/kubernetes/pkg/kubelet/server"

	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/sim"
)

// NodeConfig is one simulated kubelet.
type NodeConfig struct {
	Name string
	// Addrs are the node's addresses (loopback InternalIP, optional ExternalIP).
	Addrs    []netip.Addr
	CertFile string
	KeyFile  string
}

// Config configures the fleet.
type Config struct {
	Model *sim.Model
	Nodes []NodeConfig
	Port  int
	// RogueCertFile/KeyFile are served by the wrong-certificate fault.
	RogueCertFile string
	RogueKeyFile  string
	Auth          Auth
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Auth is the shared authenticator and authorizer.
type Auth struct {
	Authenticator authenticator.Request
	Authorizer    authorizer.Authorizer
}

// Fleet is every simulated kubelet of the sandbox.
type Fleet struct {
	model     *sim.Model
	port      int
	now       func() time.Time
	auth      Auth
	byAddr    map[netip.Addr]*endpoint
	byName    map[string]*endpoint
	order     []*endpoint
	rogue     *tls.Certificate
	renderers chan *renderer

	mu        sync.Mutex
	srv       *http.Server
	listeners []net.Listener
}

// endpoint is the per-node state; kept small because there may be thousands.
type endpoint struct {
	name   string
	addrs  []netip.Addr
	cert   *tls.Certificate
	attrs  kubeletserver.NodeRequestAttributesGetter
	faults atomic.Pointer[faultState]
	counts counters
}

// faultState is immutable once published; a new one replaces it and closes
// `changed`, which wakes requests that hang on the old one.
type faultState struct {
	faults  controlapi.Faults
	changed chan struct{}
}

type counters struct {
	metricsResource, statsSummary, healthz, other, unauthorized, forbidden atomic.Int64
}

// New loads every node's certificate and prepares the shared handler.
func New(cfg Config) (*Fleet, error) {
	if cfg.Model == nil || cfg.Auth.Authenticator == nil || cfg.Auth.Authorizer == nil {
		return nil, errors.New("kubelet fleet needs a model, an authenticator and an authorizer")
	}
	f := &Fleet{
		model:     cfg.Model,
		port:      cfg.Port,
		now:       cfg.Now,
		auth:      cfg.Auth,
		byAddr:    make(map[netip.Addr]*endpoint, 2*len(cfg.Nodes)),
		byName:    make(map[string]*endpoint, len(cfg.Nodes)),
		renderers: newRendererPool(),
	}
	if f.now == nil {
		f.now = time.Now
	}
	rogue, err := tls.LoadX509KeyPair(cfg.RogueCertFile, cfg.RogueKeyFile)
	if err != nil {
		return nil, fmt.Errorf("rogue certificate: %w", err)
	}
	f.rogue = &rogue
	for _, n := range cfg.Nodes {
		cert, err := tls.LoadX509KeyPair(n.CertFile, n.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("certificate of %s: %w", n.Name, err)
		}
		// The parsed leaf is only needed by the handshake; drop it to save memory.
		cert.Leaf = nil
		ep := &endpoint{
			name:  n.Name,
			addrs: n.Addrs,
			cert:  &cert,
			attrs: kubeletserver.NewNodeAuthorizerAttributesGetter(types.NodeName(n.Name)),
		}
		ep.faults.Store(&faultState{changed: make(chan struct{})})
		for _, a := range n.Addrs {
			if _, dup := f.byAddr[a]; dup {
				return nil, fmt.Errorf("address %s given to two nodes", a)
			}
			f.byAddr[a] = ep
		}
		f.byName[n.Name] = ep
		f.order = append(f.order, ep)
	}
	return f, nil
}

// Start listens on every node address. It fails if any address is taken.
func (f *Fleet) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.srv = &http.Server{
		Handler:           f,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          nil,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Like a kubelet: ask for a client certificate, let the x509
			// authenticator verify it against the cluster CA.
			ClientAuth:     tls.RequestClientCert,
			GetCertificate: f.certificateFor,
			NextProtos:     []string{"h2", "http/1.1"},
		},
	}
	for _, ep := range f.order {
		for _, a := range ep.addrs {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(f.port)).String())
			if err != nil {
				f.closeLocked()
				return fmt.Errorf("kubelet %s: %w", ep.name, err)
			}
			f.listeners = append(f.listeners, ln)
		}
	}
	for _, ln := range f.listeners {
		go func(ln net.Listener) {
			if err := f.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.ErrorS(err, "simulated kubelet listener stopped", "address", ln.Addr().String())
			}
		}(ln)
	}
	return nil
}

// Close stops every listener and open connection.
func (f *Fleet) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeLocked()
}

func (f *Fleet) closeLocked() {
	if f.srv != nil {
		_ = f.srv.Close()
	}
	for _, ln := range f.listeners {
		_ = ln.Close()
	}
	f.listeners = nil
}

// certificateFor picks the serving certificate by the local address.
func (f *Fleet) certificateFor(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.Conn == nil {
		return nil, errors.New("no connection")
	}
	ep := f.endpointForAddr(hello.Conn.LocalAddr())
	if ep == nil {
		return nil, errors.New("no simulated kubelet at this address")
	}
	if ep.faults.Load().faults.WrongCertificate {
		return f.rogue, nil
	}
	return ep.cert, nil
}

func (f *Fleet) endpointForAddr(a net.Addr) *endpoint {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return nil
	}
	return f.byAddr[tcp.AddrPort().Addr().Unmap()]
}

func (f *Fleet) endpointForRequest(r *http.Request) *endpoint {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return nil
	}
	return f.endpointForAddr(a)
}

// SetFaults replaces the faults of the named nodes (all nodes if none named).
func (f *Fleet) SetFaults(nodes []string, faults controlapi.Faults) error {
	targets, err := f.resolve(nodes)
	if err != nil {
		return err
	}
	for _, ep := range targets {
		next := &faultState{faults: faults, changed: make(chan struct{})}
		old := ep.faults.Swap(next)
		close(old.changed)
	}
	return nil
}

// Faults returns the nodes that currently have faults.
func (f *Fleet) Faults() map[string]controlapi.Faults {
	out := map[string]controlapi.Faults{}
	for _, ep := range f.order {
		if fs := ep.faults.Load().faults; !fs.IsZero() {
			out[ep.name] = fs
		}
	}
	return out
}

// NodeFaults returns one node's faults.
func (f *Fleet) NodeFaults(node string) (controlapi.Faults, bool) {
	ep, ok := f.byName[node]
	if !ok {
		return controlapi.Faults{}, false
	}
	return ep.faults.Load().faults, true
}

func (f *Fleet) resolve(nodes []string) ([]*endpoint, error) {
	if len(nodes) == 0 {
		return f.order, nil
	}
	out := make([]*endpoint, 0, len(nodes))
	for _, n := range nodes {
		ep, ok := f.byName[n]
		if !ok {
			return nil, fmt.Errorf("%w %q", sim.ErrUnknownNode, n)
		}
		out = append(out, ep)
	}
	return out, nil
}

// Requests returns a node's request counters.
func (f *Fleet) Requests(node string) (controlapi.RequestCounts, bool) {
	ep, ok := f.byName[node]
	if !ok {
		return controlapi.RequestCounts{}, false
	}
	return ep.counts.snapshot(), true
}

func (c *counters) snapshot() controlapi.RequestCounts {
	return controlapi.RequestCounts{
		MetricsResource: c.metricsResource.Load(),
		StatsSummary:    c.statsSummary.Load(),
		Healthz:         c.healthz.Load(),
		Other:           c.other.Load(),
		Unauthorized:    c.unauthorized.Load(),
		Forbidden:       c.forbidden.Load(),
	}
}

// waitWhileHanging blocks while the node's faults say hang, until the
// request is abandoned; it reports whether the request should go on.
func (ep *endpoint) waitWhileHanging(ctx context.Context) bool {
	for {
		st := ep.faults.Load()
		if !st.faults.Hang {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-st.changed:
		}
	}
}
