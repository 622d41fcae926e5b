// Package tests holds the end-to-end tests: the sandbox's own, and those that
// prove metrics-server-rs on the real control plane. TestMain starts one
// sandbox (3 nodes) for the whole test binary with `e2e/sandbox up`, installs
// and starts metrics-server once with `e2e/sandbox metrics-server start`
// (binary target/release/metrics-server, or $METRICS_SERVER_BINARY), and
// always stops both with `e2e/sandbox down`, then checks that no process
// naming the run directory is left.
//
// Run with `e2e/sandbox test` or `cd e2e && go test -timeout 30m ./tests/...`
// (the suite takes longer than go test's default 10 minutes on a cold build
// cache). Set SANDBOX_REUSE=1 to run against an already running sandbox (it
// and its metrics-server are then left running).
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/metricsserver"
	"metrics-server-rs/e2e/internal/runstate"
)

// Sandbox size used by every test.
const (
	testNodes       = 3
	testPodsPerNode = 2
)

var (
	e2eDir  string
	repoDir string
	env     map[string]string
	control *client.Client
	// metricsServerBinary is the executable every instance runs.
	metricsServerBinary string
	// defaultInstance is the metrics-server TestMain starts; the APIService
	// v1beta1.metrics.k8s.io routes to it.
	defaultInstance *metricsserver.Instance
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	e2eDir = dir
	repoDir = filepath.Dir(dir)
	runDir := filepath.Join(e2eDir, ".run")
	reuse := os.Getenv("SANDBOX_REUSE") == "1"
	metricsServerBinary = os.Getenv("METRICS_SERVER_BINARY")
	if metricsServerBinary == "" {
		metricsServerBinary = filepath.Join(repoDir, "target", "release", "metrics-server")
	}
	if _, err := os.Stat(metricsServerBinary); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the metrics-server binary is missing (%v).\n"+
			"Build it first with `cargo build --release -p metrics-server` (e2e/test does), "+
			"or point METRICS_SERVER_BINARY at one.\n", err)
		return 1
	}
	if !reuse && sandbox("status") == nil {
		fmt.Fprintln(os.Stderr, "a sandbox is already running: stop it with `e2e/sandbox down`, or set SANDBOX_REUSE=1 to test against it")
		return 1
	}
	if !reuse {
		// Stop the sandbox whatever happens: normal end, failure or Ctrl-C.
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			<-stop
			_ = sandbox("down")
			os.Exit(1)
		}()
		defer func() {
			if err := sandbox("metrics-server", "stop"); err != nil {
				fmt.Fprintln(os.Stderr, "metrics-server stop failed:", err)
				code = 1
			}
			if err := sandbox("down"); err != nil {
				fmt.Fprintln(os.Stderr, "down failed:", err)
				code = 1
			}
			if left := runstate.ProcessesReferencing(runDir); len(left) > 0 {
				fmt.Fprintf(os.Stderr, "FAIL: processes still reference %s after down: %v\n", runDir, left)
				code = 1
			} else {
				fmt.Println("down left no process referencing", runDir)
			}
		}()
		if err := sandbox("up", fmt.Sprintf("--nodes=%d", testNodes), fmt.Sprintf("--pods-per-node=%d", testPodsPerNode)); err != nil {
			fmt.Fprintln(os.Stderr, "sandbox up failed:", err)
			return 1
		}
	}
	env, err = runstate.ReadEnv(filepath.Join(runDir, "env"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the env file:", err)
		return 1
	}
	control = client.New(env["CONTROL_URL"])
	if defaultInstance, err = startDefaultInstance(runDir, reuse); err != nil {
		fmt.Fprintln(os.Stderr, "starting metrics-server:", err)
		return 1
	}
	return m.Run()
}

// startDefaultInstance installs metrics-server as components.yaml describes
// and runs it, registered with the aggregator; with reuse, an instance that
// already runs is taken as it is.
func startDefaultInstance(runDir string, reuse bool) (*metricsserver.Instance, error) {
	dir := filepath.Join(runDir, "metrics-server", "metrics-server")
	if reuse {
		if instance, err := metricsserver.Load(dir); err == nil && processAlive(instance.PID) {
			return instance, nil
		}
	}
	if err := sandbox("metrics-server", "start", "--binary", metricsServerBinary); err != nil {
		return nil, err
	}
	return metricsserver.Load(dir)
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// sandbox runs e2e/sandbox with its output on ours.
func sandbox(args ...string) error {
	cmd := exec.Command(filepath.Join(e2eDir, "sandbox"), args...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if args[0] == "status" || (len(args) > 1 && args[0] == "metrics-server" && args[1] == "status") {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	return cmd.Run()
}
