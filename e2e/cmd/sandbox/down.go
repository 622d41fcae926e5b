package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"metrics-server-rs/e2e/internal/metricsserver"
	"metrics-server-rs/e2e/internal/runstate"
)

func runDown(paths runstate.Paths, args []string) int {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for a clean stop before killing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := os.Stat(paths.RunDir); errors.Is(err, os.ErrNotExist) {
		fmt.Println("sandbox: not running")
		return 0
	}
	unlock, err := lockRunDir(paths)
	if err != nil {
		errorf("down: %v", err)
		return 1
	}
	defer unlock()
	if err := stopSandbox(paths, *timeout, false); err != nil {
		errorf("down: %v", err)
		return 1
	}
	return 0
}

// stopSandbox stops the supervisor (which stops its children), escalates to
// SIGKILL of its process group, kills any sandbox process still naming the
// run directory, verifies none is left, and undoes host network changes.
func stopSandbox(paths runstate.Paths, timeout time.Duration, quiet bool) error {
	var launch runstate.Launch
	haveLaunch := runstate.ReadJSON(paths.LaunchFile, &launch) == nil
	var st runstate.State
	_ = runstate.ReadJSON(paths.StateFile, &st)
	pid := launch.SupervisorPID
	if pid == 0 {
		pid = st.SupervisorPID
	}
	t0 := time.Now()
	// metrics-server instances first, while the apiserver still answers their shutdown.
	if err := metricsserver.StopAll(paths, 10*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
	}
	wasRunning := supervisorAlive(pid)
	if wasRunning {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(timeout, pid) {
			fmt.Fprintf(os.Stderr, "sandbox: supervisor %d did not stop within %v; killing its process group\n", pid, timeout)
		}
		// The supervisor leads its own session: its group holds every child.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, child := range []int{st.APIServerPID, st.ControllerManagerPID} {
		if child > 0 && runstate.Alive(child) && ours(child) {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	}
	// Anything else of ours that still names the run directory.
	stragglers := ourProcesses(paths)
	for _, p := range stragglers {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	waitGone(10*time.Second, stragglers...)
	left := ourProcesses(paths)
	if haveLaunch {
		undoHostNetwork(launch)
	}
	for _, p := range []string{paths.LaunchFile, paths.StateFile, paths.EnvFile, paths.Kubeconfig, paths.ControllerManagerKubeconfig} {
		_ = os.Remove(p)
	}
	if others := runstate.ProcessesReferencing(paths.RunDir); len(others) > len(left) {
		fmt.Fprintf(os.Stderr, "sandbox: note: other processes mention %s (not sandbox processes, left alone): %v\n", paths.RunDir, others)
	}
	if len(left) > 0 {
		return fmt.Errorf("processes still running after down: %v", left)
	}
	if !quiet {
		if wasRunning || haveLaunch {
			fmt.Printf("sandbox: stopped in %v; no sandbox process left\n", time.Since(t0).Round(100*time.Millisecond))
		} else {
			fmt.Println("sandbox: not running")
		}
	}
	return nil
}

// ourProcesses are live processes naming the run directory whose executable
// is this binary (never someone's editor or `tail -f` on a log).
func ourProcesses(paths runstate.Paths) []int {
	var out []int
	for _, p := range runstate.ProcessesReferencing(paths.RunDir) {
		if ours(p) {
			out = append(out, p)
		}
	}
	return out
}

func ours(pid int) bool {
	self, err := os.Executable()
	if err != nil {
		return false
	}
	exe, err := os.Readlink(filepath.Join("/proc", fmt.Sprint(pid), "exe"))
	if err != nil {
		return false
	}
	// A rebuilt binary shows as "<path> (deleted)" for processes started before.
	return exe == self || exe == self+" (deleted)"
}

// waitGone waits until every pid has exited; it reports whether they did.
func waitGone(timeout time.Duration, pids ...int) bool {
	deadline := time.Now().Add(timeout)
	for {
		alive := false
		for _, p := range pids {
			if runstate.Alive(p) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
