package metricsserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"metrics-server-rs/e2e/internal/runstate"
)

// A binary given as a wrapper script that execs the real one runs under
// another executable's path; stop must still see it as running.
func TestAnInstanceStartedThroughAnExecWrapperIsAliveUntilStopped(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep executable")
	}
	wrapper := filepath.Join(t.TempDir(), "wrapper")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+sleep+" 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wrapper)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	started, err := runstate.ProcessStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	instance := &Instance{Name: "wrapped", Dir: t.TempDir(), PID: cmd.Process.Pid, Started: started, Binary: wrapper}
	if !instance.alive() {
		t.Fatal("a running wrapped instance is not alive")
	}
	if err := instance.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-exited
	if instance.alive() {
		t.Fatal("the instance is still alive after Stop")
	}

	stale := &Instance{PID: os.Getpid(), Started: started.Add(-time.Second), Binary: wrapper}
	if stale.alive() {
		t.Fatal("a process with another start time (a reused pid) counts as the instance")
	}
}
