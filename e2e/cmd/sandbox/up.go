package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/hostnet"
	"metrics-server-rs/e2e/internal/pki"
	"metrics-server-rs/e2e/internal/runstate"
	"metrics-server-rs/e2e/internal/scenario"
	"metrics-server-rs/e2e/internal/supervisor"
)

const (
	defaultNodes       = 3
	defaultPodsPerNode = 2
)

type upOptions struct {
	nodes, podsPerNode    int
	scenarioFile          string
	timeout               time.Duration
	externalIPs           string
	externalCIDR          string
	verbosity             int
	hpaSync, hpaDownscale time.Duration
	hpaCPUInit, hpaReady  time.Duration
	explicit              map[string]bool
}

func parseUpFlags(args []string) (*upOptions, error) {
	o := &upOptions{}
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.IntVar(&o.nodes, "nodes", -1, fmt.Sprintf("number of simulated nodes (default %d, or the scenario's)", defaultNodes))
	fs.IntVar(&o.podsPerNode, "pods-per-node", -1, fmt.Sprintf("filler pods per node (default %d, or the scenario's)", defaultPodsPerNode))
	fs.StringVar(&o.scenarioFile, "scenario", "", "scenario file (YAML or JSON); e2e/scenarios/ has examples")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default 5m plus 10ms per pod)")
	fs.StringVar(&o.externalIPs, "external-ips", "auto", "give kubelets routable ExternalIPs so the apiserver node proxy works: auto (when root), on, off")
	fs.StringVar(&o.externalCIDR, "external-cidr", hostnet.DefaultExternalPrefix, "range routed locally for the kubelets' ExternalIPs")
	fs.IntVar(&o.verbosity, "v", 0, "log verbosity of the control plane and supervisor")
	fs.DurationVar(&o.hpaSync, "hpa-sync-period", 0, "HPA sync period (default 5s)")
	fs.DurationVar(&o.hpaDownscale, "hpa-downscale-stabilization", 0, "HPA downscale stabilization window (default 15s)")
	fs.DurationVar(&o.hpaCPUInit, "hpa-cpu-initialization-period", 0, "HPA CPU initialization period (default 5m)")
	fs.DurationVar(&o.hpaReady, "hpa-initial-readiness-delay", 0, "HPA initial readiness delay (default 30s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	o.explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
	switch o.externalIPs {
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf("--external-ips must be auto, on or off")
	}
	return o, nil
}

// buildScenario loads or builds the scenario and applies the flags.
func (o *upOptions) buildScenario() (*scenario.Scenario, string, error) {
	var sc *scenario.Scenario
	source := "default"
	if o.scenarioFile != "" {
		var err error
		if sc, err = scenario.Load(o.scenarioFile); err != nil {
			return nil, "", err
		}
		abs, err := filepath.Abs(o.scenarioFile)
		if err != nil {
			return nil, "", err
		}
		source = abs
	} else {
		sc = scenario.Default(defaultNodes, defaultPodsPerNode)
	}
	sc.ApplyOverrides(o.nodes, o.podsPerNode)
	cm := &sc.ControllerManager
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *scenario.Duration
	}{
		{"hpa-sync-period", o.hpaSync, &cm.HPASyncPeriod},
		{"hpa-downscale-stabilization", o.hpaDownscale, &cm.HPADownscaleStabilization},
		{"hpa-cpu-initialization-period", o.hpaCPUInit, &cm.HPACPUInitializationPeriod},
		{"hpa-initial-readiness-delay", o.hpaReady, &cm.HPAInitialReadinessDelay},
	} {
		if o.explicit[d.flag] {
			d.dst.Duration = d.v
		}
	}
	return sc, source, nil
}

func runUp(paths runstate.Paths, args []string) int {
	t0 := time.Now()
	o, err := parseUpFlags(args)
	if err != nil {
		errorf("up: %v", err)
		return 2
	}
	if err := os.MkdirAll(paths.RunDir, 0o755); err != nil {
		errorf("up: %v", err)
		return 1
	}
	unlock, err := lockRunDir(paths)
	if err != nil {
		errorf("up: %v", err)
		return 1
	}
	defer unlock()

	sc, source, err := o.buildScenario()
	if err != nil {
		errorf("up: %v", err)
		return 1
	}
	resolved, err := sc.Resolve()
	if err != nil {
		errorf("up: %v", err)
		return 1
	}
	if code, done := checkAlreadyRunning(paths, o, resolved, source); done {
		return code
	}

	launch := runstate.Launch{
		StartedAt: t0, Nodes: len(resolved.Nodes), PodsPerNode: sc.PodsPerNode(),
		ScenarioSource: source, Verbosity: o.verbosity,
	}
	if err := prepareHostNetwork(&launch, o); err != nil {
		errorf("up: %v", err)
		undoHostNetwork(launch)
		return 1
	}
	code := startSupervisor(paths, o, sc, resolved, &launch, t0)
	return code
}

// checkAlreadyRunning makes `up` a no-op on a running sandbox of the same
// size, an error for another size, and cleans up after a dead one.
func checkAlreadyRunning(paths runstate.Paths, o *upOptions, r *scenario.Resolved, source string) (int, bool) {
	var launch runstate.Launch
	if err := runstate.ReadJSON(paths.LaunchFile, &launch); err != nil {
		return 0, false
	}
	if !supervisorAlive(launch.SupervisorPID) {
		fmt.Println("sandbox: cleaning up after a sandbox that is no longer running")
		if err := stopSandbox(paths, 30*time.Second, true); err != nil {
			errorf("%v", err)
		}
		return 0, false
	}
	var diffs []string
	if (o.explicit["nodes"] || o.explicit["scenario"]) && len(r.Nodes) != launch.Nodes {
		diffs = append(diffs, fmt.Sprintf("%d nodes requested, %d running", len(r.Nodes), launch.Nodes))
	}
	if o.explicit["pods-per-node"] && o.podsPerNode != launch.PodsPerNode {
		diffs = append(diffs, fmt.Sprintf("%d pods per node requested, %d running", o.podsPerNode, launch.PodsPerNode))
	}
	if o.explicit["scenario"] && source != launch.ScenarioSource {
		diffs = append(diffs, fmt.Sprintf("scenario %s requested, %s running", source, launch.ScenarioSource))
	}
	var st runstate.State
	if err := runstate.ReadJSON(paths.StateFile, &st); err == nil && st.Phase != runstate.PhaseReady {
		errorf("a sandbox is running but its phase is %q (%s); run `e2e/sandbox down` first", st.Phase, st.Message)
		return 1, true
	}
	if len(diffs) > 0 {
		errorf("a sandbox of another size is already running (%s); run `e2e/sandbox down` first", strings.Join(diffs, "; "))
		return 1, true
	}
	fmt.Printf("sandbox: already running (%d nodes, %d pods per node, scenario %s); nothing to do\n",
		launch.Nodes, launch.PodsPerNode, launch.ScenarioSource)
	return 0, true
}

// prepareHostNetwork finds HOST_IP (adding a fallback address when the host
// has none) and, if wanted, routes the kubelets' external range locally.
func prepareHostNetwork(launch *runstate.Launch, o *upOptions) error {
	ip, ok := hostnet.FindHostIP()
	if !ok {
		if !hostnet.IsRoot() {
			return errors.New("no global-scope IPv4 address on any interface, and not root to add one")
		}
		if err := hostnet.AddLoopbackAddress(hostnet.FallbackHostIP); err != nil {
			return err
		}
		launch.AddedHostAddress = hostnet.FallbackHostIP
		ip = netip.MustParseAddr(hostnet.FallbackHostIP)
	}
	launch.HostIP = ip.String()
	if o.externalIPs == "off" || (o.externalIPs == "auto" && !hostnet.IsRoot()) {
		if o.externalIPs == "auto" {
			fmt.Println("sandbox: not root: kubelets get no ExternalIP, so `kubectl get --raw /api/v1/nodes/<n>/proxy/...` will not work")
		}
		return nil
	}
	prefix, err := netip.ParsePrefix(o.externalCIDR)
	if err != nil {
		return fmt.Errorf("--external-cidr: %w", err)
	}
	launch.ExternalPrefix = prefix.Masked().String()
	if hostnet.HasLocalRoute(launch.ExternalPrefix) {
		return nil
	}
	if err := hostnet.AddLocalRoute(launch.ExternalPrefix); err != nil {
		return fmt.Errorf("cannot route %s locally for the kubelets' ExternalIPs (use --external-ips=off): %w", launch.ExternalPrefix, err)
	}
	launch.AddedLocalRoute = launch.ExternalPrefix
	return nil
}

func undoHostNetwork(launch runstate.Launch) {
	if launch.AddedLocalRoute != "" {
		if err := hostnet.RemoveLocalRoute(launch.AddedLocalRoute); err != nil {
			errorf("%v", err)
		}
	}
	if launch.AddedHostAddress != "" {
		if err := hostnet.RemoveLoopbackAddress(launch.AddedHostAddress); err != nil {
			errorf("%v", err)
		}
	}
}

// startSupervisor prepares the run directory, starts the detached supervisor
// and waits until the sandbox is ready (or reports why it is not).
func startSupervisor(paths runstate.Paths, o *upOptions, sc *scenario.Scenario, r *scenario.Resolved, launch *runstate.Launch, t0 time.Time) int {
	nodes, err := supervisor.NodeInfos(r, launch.ExternalPrefix)
	if err == nil {
		err = cleanRunDir(paths)
	}
	var bundle *pki.Bundle
	if err == nil {
		tp := time.Now()
		bundle, err = pki.Ensure(pki.Plan{
			Dir: paths.PKIDir, HostIP: netip.MustParseAddr(launch.HostIP),
			ServiceIP: netip.MustParseAddr("10.96.0.1"), Nodes: supervisor.Identities(nodes),
		})
		if err == nil {
			fmt.Printf("sandbox: certificates ready in %v (%d issued)\n", time.Since(tp).Round(time.Millisecond), bundle.Issued)
		}
	}
	if err == nil {
		err = runstate.WriteJSON(paths.ScenarioFile, sc)
	}
	if err == nil {
		err = runstate.WriteJSON(paths.LaunchFile, launch)
	}
	if err != nil {
		errorf("up: %v", err)
		undoHostNetwork(*launch)
		_ = os.Remove(paths.LaunchFile)
		return 1
	}
	cmd, err := spawnSupervisor(paths)
	if err != nil {
		errorf("up: %v", err)
		undoHostNetwork(*launch)
		_ = os.Remove(paths.LaunchFile)
		return 1
	}
	launch.SupervisorPID = cmd.Process.Pid
	if err := runstate.WriteJSON(paths.LaunchFile, launch); err != nil {
		errorf("up: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	timeout := o.timeout
	if timeout <= 0 {
		timeout = 5*time.Minute + time.Duration(r.ExpectedPods)*10*time.Millisecond
	}
	fmt.Printf("sandbox: starting %s and %s (supervisor pid %d, logs in %s)\n",
		plural(len(r.Nodes), "node"), plural(r.ExpectedPods, "pod"), launch.SupervisorPID, paths.LogDir)
	st, err := waitReady(paths, exited, t0.Add(timeout))
	if err != nil {
		errorf("up failed: %v", err)
		component := st.FailedComponent
		if component == "" {
			component = supervisor.ComponentSupervisor
		}
		printLogTail(paths, component, 40)
		if component != supervisor.ComponentSupervisor {
			printLogTail(paths, supervisor.ComponentSupervisor, 15)
		}
		if err := stopSandbox(paths, time.Minute, true); err != nil {
			errorf("%v", err)
		}
		return 1
	}
	fmt.Printf("sandbox: up in %v: %s Ready, %s Running\n", time.Since(t0).Round(100*time.Millisecond),
		plural(len(r.Nodes), "node"), plural(r.ExpectedPods, "pod"))
	fmt.Printf("  kubectl --kubeconfig %s get nodes\n", paths.Kubeconfig)
	fmt.Printf("  env file: %s (. %s)\n", paths.EnvFile, paths.EnvFile)
	fmt.Printf("  apiserver %s, control endpoint %s\n", st.APIServerURL, st.ControlURL)
	return 0
}

// cleanRunDir removes what belongs to a previous run (etcd data, logs, state),
// keeping the certificates.
func cleanRunDir(paths runstate.Paths) error {
	for _, p := range []string{paths.EtcdDir, paths.LogDir, paths.StateFile, paths.EnvFile, paths.Kubeconfig, paths.ControllerManagerKubeconfig} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return os.MkdirAll(paths.LogDir, 0o755)
}

// spawnSupervisor starts `sandbox supervise` in its own session (so it
// outlives this command and owns a process group `down` can kill).
func spawnSupervisor(paths runstate.Paths) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(paths.Log(supervisor.ComponentSupervisor), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	cmd := exec.Command(exe, "--run-dir", paths.RunDir, "supervise")
	cmd.Stdin = devNull
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = paths.RunDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	closeInheritedOnExec()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// closeInheritedOnExec keeps descriptors this process inherited (Go only
// marks its own close-on-exec) out of the long-lived supervisor: a
// `flock LOCK sandbox up` would otherwise hold the lock for as long as the
// sandbox runs.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, entry := range entries {
		if fd, err := strconv.Atoi(entry.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// waitReady follows state.json until the supervisor is ready or fails.
func waitReady(paths runstate.Paths, exited <-chan struct{}, deadline time.Time) (runstate.State, error) {
	var st runstate.State
	lastPrint := time.Now()
	lastPhase := map[string]bool{}
	for {
		_ = runstate.ReadJSON(paths.StateFile, &st)
		for _, stage := range []string{"etcd", "apiserver", "nodes", "createWorkload", "controllerManager", "podsRunning", "nodesReady"} {
			if d, ok := st.Timings[stage]; ok && !lastPhase[stage] {
				lastPhase[stage] = true
				fmt.Printf("sandbox:   %-18s %s\n", stage, d)
			}
		}
		switch st.Phase {
		case runstate.PhaseReady:
			return st, nil
		case runstate.PhaseFailed:
			return st, fmt.Errorf("%s: %s", st.FailedComponent, st.Message)
		}
		select {
		case <-exited:
			_ = runstate.ReadJSON(paths.StateFile, &st)
			if st.Phase == runstate.PhaseFailed {
				return st, fmt.Errorf("%s: %s", st.FailedComponent, st.Message)
			}
			return st, errors.New("the supervisor exited")
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return st, errors.New("timed out waiting for the sandbox (raise --timeout?)")
		}
		if time.Since(lastPrint) > 10*time.Second && st.ControlURL != "" {
			lastPrint = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if s, err := client.New(st.ControlURL).Status(ctx); err == nil {
				fmt.Printf("sandbox:   ... %d of %d pods running\n", s.RunningPods, s.ExpectedPods)
			}
			cancel()
		}
	}
}

func printLogTail(paths runstate.Paths, component string, lines int) {
	data, err := os.ReadFile(paths.Log(component))
	if err != nil {
		return
	}
	all := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	fmt.Fprintf(os.Stderr, "---- last %d lines of %s ----\n%s\n----\n", len(all), paths.Log(component), bytes.Join(all, []byte("\n")))
}

// lockRunDir serialises up/down on one run directory.
func lockRunDir(paths runstate.Paths) (func(), error) {
	f, err := os.OpenFile(paths.LockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func supervisorAlive(pid int) bool {
	if !runstate.Alive(pid) {
		return false
	}
	for _, a := range runstate.Cmdline(pid) {
		if a == "supervise" {
			return true
		}
	}
	return false
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
