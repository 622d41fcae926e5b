// Package supervisor is the long-lived, detached process of a running
// sandbox. It starts etcd, kube-apiserver and kube-controller-manager as
// children, runs the simulated kubelets, the workload agent and the control
// endpoint in-process, publishes its progress in state.json, and tears
// everything down on SIGTERM.
package supervisor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"metrics-server-rs/e2e/internal/control"
	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/controlplane"
	"metrics-server-rs/e2e/internal/hostnet"
	"metrics-server-rs/e2e/internal/kubelet"
	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/runstate"
	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/sim"
	"metrics-server-rs/e2e/internal/workload"
)

// Component names, also the names of their log files.
const (
	ComponentSupervisor        = "supervisor"
	ComponentEtcd              = "etcd"
	ComponentAPIServer         = "apiserver"
	ComponentControllerManager = "controller-manager"
)

// Startup limits per stage; `up` enforces the overall deadline.
const (
	etcdStartTimeout      = 2 * time.Minute
	apiserverStartTimeout = 5 * time.Minute
	kcmStartTimeout       = 3 * time.Minute
	childStopGrace        = 15 * time.Second
)

// Supervisor holds the running sandbox.
type Supervisor struct {
	paths    runstate.Paths
	launch   runstate.Launch
	exe      string
	started  time.Time
	scenario *scenario.Resolved
	pki      *pki.Bundle
	nodes    []workload.NodeInfo

	mu    sync.Mutex
	state runstate.State

	spawner  *controlplane.Spawner
	children []*controlplane.Child
	// planned are children stopped on purpose (a kube-apiserver restart):
	// their exit is not a sandbox failure.
	planned map[*controlplane.Child]bool
	// restartMu serialises kube-apiserver restarts.
	restartMu sync.Mutex
	control   *control.Server
	fleet     *kubelet.Fleet
	agent     *workload.Agent
	model     *sim.Model
}

// Run is the `supervise` subcommand.
func Run(paths runstate.Paths) error {
	s := &Supervisor{paths: paths, started: time.Now(), spawner: controlplane.NewSpawner()}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	s.exe = exe
	s.state = runstate.State{Phase: runstate.PhaseStarting, SupervisorPID: os.Getpid(), Timings: map[string]string{}}
	if err := runstate.ReadJSON(paths.LaunchFile, &s.launch); err != nil {
		return s.fail(ComponentSupervisor, err)
	}
	var sc scenario.Scenario
	if err := runstate.ReadJSON(paths.ScenarioFile, &sc); err != nil {
		return s.fail(ComponentSupervisor, err)
	}
	if s.scenario, err = sc.Resolve(); err != nil {
		return s.fail(ComponentSupervisor, err)
	}
	if s.nodes, err = NodeInfos(s.scenario, s.launch.ExternalPrefix); err != nil {
		return s.fail(ComponentSupervisor, err)
	}
	s.pki = pki.Layout(paths.PKIDir)
	setKlogVerbosity(s.launch.Verbosity)
	raiseFileLimit()
	// Scrapes of thousands of simulated kubelets churn short-lived garbage;
	// a tighter GC target keeps the supervisor's RSS near its live heap for
	// a little CPU (the apiserver, not the supervisor, is the bottleneck).
	debug.SetGCPercent(50)

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	s.control = control.New(s.status)
	controlURL, err := s.control.Listen()
	if err != nil {
		return s.fail(ComponentSupervisor, fmt.Errorf("control endpoint: %w", err))
	}
	s.update(func(st *runstate.State) { st.ControlURL = controlURL })

	failed := make(chan error, 1)
	if err := s.start(ctx, failed); err != nil {
		s.markFailed(componentOf(err), err)
		if ctx.Err() == nil {
			// Stay up in the failed phase so `up` can read the reason; `down` stops us.
			<-ctx.Done()
		}
		s.shutdown()
		return nil
	}
	select {
	case <-ctx.Done():
	case err := <-failed:
		s.markFailed(componentOf(err), err)
		<-ctx.Done()
	}
	s.shutdown()
	return nil
}

type componentError struct {
	component string
	err       error
}

func (e *componentError) Error() string { return e.component + ": " + e.err.Error() }
func (e *componentError) Unwrap() error { return e.err }

func inComponent(component string, err error) error {
	if err == nil {
		return nil
	}
	return &componentError{component: component, err: err}
}

func componentOf(err error) string {
	var ce *componentError
	if errors.As(err, &ce) {
		return ce.component
	}
	return ComponentSupervisor
}

// start brings every component up, in dependency order.
func (s *Supervisor) start(ctx context.Context, failed chan<- error) error {
	// etcd, fresh every time.
	if err := os.RemoveAll(s.paths.EtcdDir); err != nil {
		return inComponent(ComponentEtcd, err)
	}
	clientPort, err1 := controlplane.FreePort()
	peerPort, err2 := controlplane.FreePort()
	if err := errors.Join(err1, err2); err != nil {
		return inComponent(ComponentEtcd, err)
	}
	etcd, err := s.spawn(ComponentEtcd, append([]string{"etcd"}, controlplane.EtcdArgs(s.paths.EtcdDir, clientPort, peerPort)...))
	if err != nil {
		return inComponent(ComponentEtcd, err)
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	if err := s.waitStage(ctx, "etcd", etcd, etcdStartTimeout, func(ctx context.Context) error {
		return controlplane.EtcdHealthy(ctx, etcdURL)
	}); err != nil {
		return inComponent(ComponentEtcd, err)
	}
	s.update(func(st *runstate.State) { st.EtcdURL = etcdURL })

	// kube-apiserver.
	port, err := controlplane.FreePort()
	if err != nil {
		return inComponent(ComponentAPIServer, err)
	}
	apiArgs := controlplane.APIServerArgs(controlplane.APIServerConfig{
		Port: port, HostIP: s.launch.HostIP, EtcdURL: etcdURL, PKI: s.pki,
		PreferExternalIP: s.launch.ExternalPrefix != "", Verbosity: s.launch.Verbosity,
		ExtraArgs: s.scenario.APIServer.ExtraArgs,
	})
	apiserver, err := s.spawn(ComponentAPIServer, append([]string{"apiserver"}, apiArgs...))
	if err != nil {
		return inComponent(ComponentAPIServer, err)
	}
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", port)
	s.update(func(st *runstate.State) { st.APIServerPID = apiserver.PID(); st.APIServerURL = apiURL })
	adminClient, err := kubernetes.NewForConfig(s.restConfig(apiURL, s.pki.Admin, 2000, 4000))
	if err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	if err := s.waitStage(ctx, "apiserver", apiserver, apiserverStartTimeout, func(ctx context.Context) error {
		body, err := adminClient.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%v: %s", err, body)
		}
		return nil
	}); err != nil {
		return inComponent(ComponentAPIServer, err)
	}
	if err := s.writeKubeconfigs(apiURL); err != nil {
		return inComponent(ComponentSupervisor, err)
	}

	// kube-controller-manager.
	kcm, err := s.spawn(ComponentControllerManager, append([]string{"controller-manager"}, controlplane.ControllerManagerArgs(controlplane.ControllerManagerConfig{
		Kubeconfig: s.paths.ControllerManagerKubeconfig, PKI: s.pki,
		Tunables: s.scenario.ControllerManager, Verbosity: s.launch.Verbosity,
	})...))
	if err != nil {
		return inComponent(ComponentControllerManager, err)
	}
	s.update(func(st *runstate.State) { st.ControllerManagerPID = kcm.PID() })
	for _, c := range []*controlplane.Child{etcd, apiserver, kcm} {
		s.watchChild(ctx, c, failed)
	}
	restartAPIServer := func(rctx context.Context, downFor time.Duration) (int, error) {
		return s.restartAPIServer(ctx, rctx, apiArgs, downFor, adminClient, failed)
	}

	// Simulated kubelets and the workload agent.
	s.model = sim.NewModel(0)
	if err := s.startKubelets(apiURL); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	agent, err := workload.New(workload.Config{
		Client: adminClient, Model: s.model, Nodes: s.nodes,
		KubeletPort: hostnet.KubeletPort, KubeletVersion: kubelet.EmulatedVersion().GitVersion,
	})
	if err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	s.mu.Lock()
	s.agent = agent // status() reads it from the control endpoint's goroutines
	s.mu.Unlock()
	if err := s.agent.Start(ctx); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	if err := s.timed("nodes", func() error { return s.agent.RegisterNodes(ctx) }); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	s.control.SetBackend(&control.Backend{Model: s.model, Fleet: s.fleet, Agent: s.agent, Nodes: s.nodes, RestartAPIServer: restartAPIServer})
	if err := s.timed("createWorkload", func() error { return s.agent.CreateWorkload(ctx, s.scenario) }); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	// The expanded pod list is only needed for creation; at scale it is big.
	s.scenario.Pods = nil
	if err := s.waitStage(ctx, "controllerManager", kcm, kcmStartTimeout, func(ctx context.Context) error {
		// The root-CA publisher writes this ConfigMap into every namespace:
		// seeing it proves the controller-manager is running its controllers.
		_, err := adminClient.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return errors.New("kube-root-ca.crt not published yet")
		}
		return err
	}); err != nil {
		return inComponent(ComponentControllerManager, err)
	}
	lastLog := time.Now()
	if err := s.waitStage(ctx, "podsRunning", nil, 0, func(context.Context) error {
		running := s.agent.RunningPods()
		if running >= s.scenario.ExpectedPods {
			return nil
		}
		if time.Since(lastLog) > 5*time.Second {
			klog.InfoS("waiting for pods", "running", running, "expected", s.scenario.ExpectedPods)
			lastLog = time.Now()
		}
		return fmt.Errorf("%d of %d pods running", running, s.scenario.ExpectedPods)
	}); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	if err := s.waitStage(ctx, "nodesReady", nil, time.Minute, func(ctx context.Context) error {
		return s.checkNodesReady(ctx, adminClient)
	}); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	if err := s.writeEnv(apiURL, etcdURL); err != nil {
		return inComponent(ComponentSupervisor, err)
	}
	s.update(func(st *runstate.State) {
		st.Phase = runstate.PhaseReady
		st.ReadyAt = time.Now()
		st.Timings["total"] = time.Since(s.started).Round(time.Millisecond).String()
	})
	// Hand the creation phase's garbage back to the OS: RSS then shows the
	// steady state.
	debug.FreeOSMemory()
	klog.InfoS("sandbox ready", "after", time.Since(s.started).Round(time.Millisecond), "nodes", len(s.nodes), "pods", s.agent.RunningPods())
	return nil
}

// watchChild reports the child's exit as the sandbox's failure unless the
// sandbox is stopping or the child was stopped on purpose.
func (s *Supervisor) watchChild(ctx context.Context, c *controlplane.Child, failed chan<- error) {
	go func() {
		<-c.Done()
		s.mu.Lock()
		planned := s.planned[c]
		s.mu.Unlock()
		if ctx.Err() == nil && !planned {
			select {
			case failed <- inComponent(c.Name, c.Err()):
			default:
			}
		}
	}()
}

// restartAPIServer stops kube-apiserver (SIGTERM, as a rolling control-plane
// upgrade does), leaves it down for downFor and starts it again with the same
// flags, so on the same port, against the same etcd. It returns once the new
// process answers /readyz, with its PID.
func (s *Supervisor) restartAPIServer(ctx, rctx context.Context, args []string, downFor time.Duration,
	client kubernetes.Interface, failed chan<- error) (int, error) {
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	s.mu.Lock()
	var old *controlplane.Child
	for _, c := range s.children {
		if c.Name == ComponentAPIServer && !s.planned[c] {
			old = c
		}
	}
	if old != nil {
		if s.planned == nil {
			s.planned = map[*controlplane.Child]bool{}
		}
		s.planned[old] = true
	}
	s.mu.Unlock()
	if old == nil {
		return 0, errors.New("kube-apiserver is not running")
	}
	klog.InfoS("restarting kube-apiserver", "pid", old.PID(), "downFor", downFor)
	old.Stop(childStopGrace)
	select {
	case <-time.After(downFor):
	case <-rctx.Done():
		return 0, rctx.Err()
	}
	apiserver, err := s.spawn(ComponentAPIServer, append([]string{"apiserver"}, args...))
	if err != nil {
		select {
		case failed <- inComponent(ComponentAPIServer, err):
		default:
		}
		return 0, err
	}
	s.update(func(st *runstate.State) { st.APIServerPID = apiserver.PID() })
	s.watchChild(ctx, apiserver, failed)
	wctx, cancel := context.WithTimeout(rctx, apiserverStartTimeout)
	defer cancel()
	if err := controlplane.WaitFor(wctx, apiserver, 100*time.Millisecond, func(ctx context.Context) error {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%v: %s", err, body)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("kube-apiserver after its restart: %w", err)
	}
	klog.InfoS("kube-apiserver restarted", "pid", apiserver.PID())
	return apiserver.PID(), nil
}

// checkNodesReady verifies through the API that every scenario node exists
// and is Ready (nothing, such as an extra controller, has changed them).
func (s *Supervisor) checkNodesReady(ctx context.Context, client kubernetes.Interface) error {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	ready := make(map[string]bool, len(list.Items))
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready[n.Name] = true
			}
		}
	}
	for _, n := range s.nodes {
		if !ready[n.Name] {
			return fmt.Errorf("node %s is not Ready", n.Name)
		}
	}
	return nil
}

func (s *Supervisor) spawn(name string, args []string) (*controlplane.Child, error) {
	c, err := s.spawner.Start(name, s.exe, args, s.paths.Log(name))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.children = append(s.children, c)
	s.mu.Unlock()
	return c, nil
}

// waitStage polls check (bounded by timeout when > 0) and records its duration.
func (s *Supervisor) waitStage(ctx context.Context, stage string, child *controlplane.Child, timeout time.Duration, check func(context.Context) error) error {
	return s.timed(stage, func() error {
		wctx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return controlplane.WaitFor(wctx, child, 100*time.Millisecond, check)
	})
}

func (s *Supervisor) timed(stage string, fn func() error) error {
	t0 := time.Now()
	err := fn()
	elapsed := time.Since(t0).Round(time.Millisecond)
	klog.InfoS("stage finished", "stage", stage, "took", elapsed, "err", err)
	s.update(func(st *runstate.State) { st.Timings[stage] = elapsed.String() })
	return err
}

func (s *Supervisor) restConfig(url string, pair pki.Pair, qps float32, burst int) *rest.Config {
	return &rest.Config{
		Host:            url,
		TLSClientConfig: rest.TLSClientConfig{CAFile: s.pki.CA.Cert, CertFile: pair.Cert, KeyFile: pair.Key},
		// Protobuf bodies are markedly cheaper for the apiserver than JSON.
		ContentConfig: rest.ContentConfig{ContentType: "application/vnd.kubernetes.protobuf"},
		QPS:           qps,
		Burst:         burst,
		UserAgent:     "sandbox-supervisor",
	}
}

// startKubelets builds the shared webhook auth and listens on every node address.
func (s *Supervisor) startKubelets(apiURL string) error {
	cfg := s.restConfig(apiURL, s.pki.KubeletWebhook, 500, 1000)
	cfg.UserAgent = "sandbox-kubelet"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	auth, err := kubelet.NewWebhookAuth(client, s.pki.CA.Cert)
	if err != nil {
		return err
	}
	nodes := make([]kubelet.NodeConfig, 0, len(s.nodes))
	for _, n := range s.nodes {
		addrs := []netip.Addr{n.InternalIP}
		if n.ExternalIP.IsValid() {
			addrs = append(addrs, n.ExternalIP)
		}
		p := s.pki.KubeletPair(n.Name)
		nodes = append(nodes, kubelet.NodeConfig{Name: n.Name, Addrs: addrs, CertFile: p.Cert, KeyFile: p.Key})
	}
	s.fleet, err = kubelet.New(kubelet.Config{
		Model: s.model, Nodes: nodes, Port: hostnet.KubeletPort,
		RogueCertFile: s.pki.RogueKubelet.Cert, RogueKeyFile: s.pki.RogueKubelet.Key, Auth: auth,
	})
	if err != nil {
		return err
	}
	return s.timed("kubeletListeners", s.fleet.Start)
}

func (s *Supervisor) writeKubeconfigs(apiURL string) error {
	admin, err := runstate.CredentialsFromFiles(pki.AdminUser, s.pki.CA.Cert, s.pki.Admin.Cert, s.pki.Admin.Key)
	if err != nil {
		return err
	}
	if err := runstate.WriteKubeconfig(s.paths.Kubeconfig, apiURL, admin); err != nil {
		return err
	}
	kcm, err := runstate.CredentialsFromFiles(pki.ControllerManagerUser, s.pki.CA.Cert, s.pki.ControllerManager.Cert, s.pki.ControllerManager.Key)
	if err != nil {
		return err
	}
	return runstate.WriteKubeconfig(s.paths.ControllerManagerKubeconfig, apiURL, kcm)
}

func (s *Supervisor) writeEnv(apiURL, etcdURL string) error {
	port := apiURL[len("https://127.0.0.1:"):]
	s.mu.Lock()
	controlURL := s.state.ControlURL
	s.mu.Unlock()
	vars := map[string]string{
		"KUBECONFIG":            s.paths.Kubeconfig,
		"APISERVER_URL":         apiURL,
		"APISERVER_HOST_URL":    "https://" + s.launch.HostIP + ":" + port,
		"CLUSTER_CA":            s.pki.CA.Cert,
		"CLUSTER_CA_KEY":        s.pki.CA.Key,
		"FRONT_PROXY_CA":        s.pki.FrontProxyCA.Cert,
		"ADMIN_CERT":            s.pki.Admin.Cert,
		"ADMIN_KEY":             s.pki.Admin.Key,
		"CONTROL_URL":           controlURL,
		"HOST_IP":               s.launch.HostIP,
		"NODES":                 strconv.Itoa(len(s.nodes)),
		"PODS_PER_NODE":         strconv.Itoa(s.launch.PodsPerNode),
		"RUN_DIR":               s.paths.RunDir,
		"LOG_DIR":               s.paths.LogDir,
		"ETCD_URL":              etcdURL,
		"SERVICE_CIDR":          controlplane.ServiceCIDR,
		"KUBELET_PORT":          strconv.Itoa(hostnet.KubeletPort),
		"KUBELET_ADDRESS_RANGE": hostnet.LoopbackRange(len(s.nodes)),
		"SANDBOX_SCENARIO":      s.scenario.Name,
	}
	if s.launch.ExternalPrefix != "" {
		vars["KUBELET_EXTERNAL_RANGE"] = s.launch.ExternalPrefix
	}
	return runstate.WriteEnv(s.paths.EnvFile, vars)
}

func (s *Supervisor) update(fn func(*runstate.State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.state)
	s.state.UpdatedAt = time.Now()
	if err := runstate.WriteJSON(s.paths.StateFile, s.state); err != nil {
		klog.ErrorS(err, "cannot write state file")
	}
}

func (s *Supervisor) markFailed(component string, err error) {
	klog.ErrorS(err, "sandbox failed", "component", component)
	var ce *componentError
	if errors.As(err, &ce) {
		err = ce.err // the component is reported on its own
	}
	s.update(func(st *runstate.State) {
		st.Phase = runstate.PhaseFailed
		st.Message = err.Error()
		st.FailedComponent = component
	})
}

// fail records a failure that happened before anything was started.
func (s *Supervisor) fail(component string, err error) error {
	s.markFailed(component, err)
	return err
}

func (s *Supervisor) status() controlapi.Status {
	s.mu.Lock()
	st := controlapi.Status{Phase: s.state.Phase, Message: s.state.Message, StartedAt: s.started.UTC(), ReadyAt: s.state.ReadyAt.UTC()}
	agent := s.agent
	s.mu.Unlock()
	if s.scenario != nil {
		st.Nodes = len(s.scenario.Nodes)
		st.ExpectedPods = s.scenario.ExpectedPods
	}
	if agent != nil {
		st.RunningPods = agent.RunningPods()
	}
	return st
}

// shutdown stops the components in reverse dependency order.
func (s *Supervisor) shutdown() {
	s.update(func(st *runstate.State) { st.Phase = runstate.PhaseStopping })
	if s.control != nil {
		s.control.Close()
	}
	if s.fleet != nil {
		s.fleet.Close()
	}
	s.mu.Lock()
	children := append([]*controlplane.Child(nil), s.children...)
	s.mu.Unlock()
	for i := len(children) - 1; i >= 0; i-- {
		children[i].Stop(childStopGrace)
	}
	klog.InfoS("sandbox stopped")
	klog.Flush()
}

// raiseFileLimit lifts RLIMIT_NOFILE as far as allowed: thousands of kubelet
// listeners and their scrape connections need more than the usual default.
// Children inherit the limit.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := uint64(1 << 20)
	if data, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if v, err := strconv.ParseUint(string(trimNewline(data)), 10, 64); err == nil {
			want = min(want, v)
		}
	}
	if want > lim.Max {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return
		}
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

func setKlogVerbosity(v int) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", strconv.Itoa(v))
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
