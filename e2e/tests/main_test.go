// Package tests holds the sandbox's end-to-end tests. TestMain starts one
// sandbox (3 nodes) for the whole test binary with `e2e/sandbox up`, and
// always stops it with `e2e/sandbox down`, then checks that no process
// naming the run directory is left.
//
// Run with `e2e/sandbox test` or `cd e2e && go test ./tests/...`. Set
// SANDBOX_REUSE=1 to run against an already running sandbox (it is then left
// running).
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
	"metrics-server-rs/e2e/internal/runstate"
)

// Sandbox size used by every test.
const (
	testNodes       = 3
	testPodsPerNode = 2
)

var (
	e2eDir  string
	env     map[string]string
	control *client.Client
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
	runDir := filepath.Join(e2eDir, ".run")
	reuse := os.Getenv("SANDBOX_REUSE") == "1"
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
	return m.Run()
}

// sandbox runs e2e/sandbox with its output on ours.
func sandbox(args ...string) error {
	cmd := exec.Command(filepath.Join(e2eDir, "sandbox"), args...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if args[0] == "status" {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	return cmd.Run()
}
