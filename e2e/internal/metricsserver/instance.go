package metricsserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"metrics-server-rs/e2e/internal/runstate"
)

// Instance is a metrics-server process the sandbox started.
type Instance struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	PID  int    `json:"pid"`
	// Started is the process's start time, which tells it from a later
	// process given the same pid. Unlike the executable's path it survives a
	// wrapper script that execs the binary.
	Started time.Time `json:"started,omitzero"`
	Binary  string    `json:"binary"`
	Args    []string  `json:"args"`
	Address string    `json:"address"`
	// Registered is true when the APIService routes to this instance.
	Registered bool `json:"registered"`
}

// URL is the instance's HTTPS base URL.
func (i *Instance) URL() string { return "https://" + i.Address }

// Log is the file holding the process's stdout and stderr.
func (i *Instance) Log() string { return filepath.Join(i.Dir, "log") }

// StartOptions say which binary to run and how.
type StartOptions struct {
	// Name tells instances apart (directory, EndpointSlice); default "metrics-server".
	Name string
	// Binary is the executable; any implementation taking metrics-server's flags works.
	Binary string
	// Manifest is components.yaml; its Deployment's args are used.
	Manifest string
	// Port on HOST_IP; 0 picks a free one.
	Port int
	// ExtraArgs are appended after the Deployment's args.
	ExtraArgs []string
	// Register applies the manifest's objects and routes the APIService here.
	Register bool
	// APIVersions are the metrics.k8s.io versions routed here and waited for
	// (nil: every APIService of the manifest); the others are deleted.
	APIVersions []string
	// Timeout bounds the wait for /readyz (and APIService availability).
	Timeout time.Duration
}

// InstancesDir holds one directory per started instance.
func InstancesDir(paths runstate.Paths) string { return filepath.Join(paths.RunDir, "metrics-server") }

func freePort(host string) (int, error) {
	listener, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// Start registers (optionally) and starts an instance, and waits until its
// /readyz passes and, when registered, the APIService is Available.
func Start(ctx context.Context, paths runstate.Paths, env map[string]string, clients Clients, agg aggregator.Interface, opts StartOptions) (*Instance, error) {
	if opts.Name == "" {
		opts.Name = "metrics-server"
	}
	if _, err := os.Stat(opts.Binary); err != nil {
		return nil, fmt.Errorf("metrics-server binary %s: %w (build it with: cargo build --release -p metrics-server)", opts.Binary, err)
	}
	dir := filepath.Join(InstancesDir(paths), opts.Name)
	if running, _ := Load(dir); running != nil && running.alive() {
		return nil, fmt.Errorf("instance %q is already running (pid %d); stop it first", opts.Name, running.PID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	manifest, err := ReadManifest(opts.Manifest)
	if err != nil {
		return nil, err
	}
	deploymentArgs, err := manifest.ContainerArgs()
	if err != nil {
		return nil, err
	}
	host := env["HOST_IP"]
	if host == "" {
		return nil, errors.New("the sandbox env has no HOST_IP")
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(host); err != nil {
			return nil, fmt.Errorf("finding a free port on %s: %w", host, err)
		}
	}
	// Both apply the ServiceAccount, which the token needs on a fresh sandbox.
	if opts.Register {
		if err := clients.Register(ctx, manifest, host, int32(port), opts.APIVersions); err != nil {
			return nil, err
		}
	} else if err := clients.InstallIdentity(ctx, manifest); err != nil {
		return nil, err
	}
	token, err := clients.ServiceAccountToken(ctx, 24*3600)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := WriteServiceAccountKubeconfig(kubeconfig, env["APISERVER_URL"], env["CLUSTER_CA"], tokenFile); err != nil {
		return nil, err
	}
	args := append(OutOfClusterArgs(deploymentArgs, dir, host, port, kubeconfig), opts.ExtraArgs...)
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(opts.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	// Its own session: it outlives this command and `down` stops it by pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", opts.Binary, err)
	}
	instance := &Instance{
		Name: opts.Name, Dir: dir, PID: cmd.Process.Pid, Binary: opts.Binary, Args: args,
		Address: net.JoinHostPort(host, strconv.Itoa(port)), Registered: opts.Register,
	}
	// Unreadable only if the process is already gone; alive() then falls back
	// to the executable's path.
	instance.Started, _ = runstate.ProcessStartTime(instance.PID)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := runstate.WriteJSON(filepath.Join(dir, "instance.json"), instance); err != nil {
		return instance, err
	}
	if err := instance.waitReady(ctx, opts.Timeout, exited); err != nil {
		return instance, err
	}
	if opts.Register {
		if err := WaitAvailable(ctx, agg, apiServiceNames(manifest, opts.APIVersions), opts.Timeout); err != nil {
			return instance, err
		}
	}
	return instance, nil
}

// Load reads an instance's record; nil when there is none.
func Load(dir string) (*Instance, error) {
	var instance Instance
	if err := runstate.ReadJSON(filepath.Join(dir, "instance.json"), &instance); err != nil {
		return nil, err
	}
	return &instance, nil
}

// alive is true while the recorded pid is still the process started: same
// start time, or (when that was not recorded) the same executable.
func (i *Instance) alive() bool {
	if i.PID <= 0 || !runstate.Alive(i.PID) {
		return false
	}
	if !i.Started.IsZero() {
		started, err := runstate.ProcessStartTime(i.PID)
		return err == nil && started.Equal(i.Started)
	}
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(i.PID), "exe"))
	if err != nil {
		return false
	}
	binary, _ := filepath.Abs(i.Binary)
	return strings.TrimSuffix(exe, " (deleted)") == binary
}

// Stop terminates the process (SIGTERM, then SIGKILL after timeout).
func (i *Instance) Stop(timeout time.Duration) error {
	defer os.Remove(filepath.Join(i.Dir, "instance.json"))
	if !i.alive() {
		return nil
	}
	_ = syscall.Kill(i.PID, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for i.alive() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if i.alive() {
		_ = syscall.Kill(i.PID, syscall.SIGKILL)
		time.Sleep(100 * time.Millisecond)
	}
	if i.alive() {
		return fmt.Errorf("metrics-server %q (pid %d) did not stop", i.Name, i.PID)
	}
	return nil
}

// StopAll stops every instance recorded in the run directory.
func StopAll(paths runstate.Paths, timeout time.Duration) error {
	entries, err := os.ReadDir(InstancesDir(paths))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, entry := range entries {
		if instance, err := Load(filepath.Join(InstancesDir(paths), entry.Name())); err == nil {
			errs = append(errs, instance.Stop(timeout))
		}
	}
	return errors.Join(errs...)
}

// InsecureClient talks to an instance directly; its self-signed certificate is not verifiable.
func InsecureClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // the instance's own self-signed certificate
	}
}

func (i *Instance) waitReady(ctx context.Context, timeout time.Duration, exited <-chan error) error {
	client := InsecureClient()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("metrics-server exited (%v) before becoming ready; log %s:\n%s", err, i.Log(), tail(i.Log(), 20))
		default:
		}
		if resp, err := client.Get(i.URL() + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("metrics-server not ready after %v (last /readyz: %s); log %s:\n%s", timeout, last, i.Log(), tail(i.Log(), 20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// apiServiceNames are the manifest's APIServices that apiVersions route.
func apiServiceNames(m *Manifest, apiVersions []string) []string {
	var names []string
	for _, obj := range m.Objects {
		if obj.GetKind() == "APIService" && routed(obj, apiVersions) {
			names = append(names, obj.GetName())
		}
	}
	return names
}

// WaitAvailable waits for the Available condition of the named APIServices to be True.
func WaitAvailable(ctx context.Context, agg aggregator.Interface, names []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, name := range names {
		if err := waitAvailable(ctx, agg, name, deadline); err != nil {
			return err
		}
	}
	return nil
}

func waitAvailable(ctx context.Context, agg aggregator.Interface, name string, deadline time.Time) error {
	var last string
	for {
		service, err := agg.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range service.Status.Conditions {
				if c.Type == apiregistrationv1.Available {
					if c.Status == apiregistrationv1.ConditionTrue {
						return nil
					}
					last = fmt.Sprintf("%s: %s", c.Reason, c.Message)
				}
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("APIService %s not Available by %s: %s", name, deadline.Format(time.TimeOnly), last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
