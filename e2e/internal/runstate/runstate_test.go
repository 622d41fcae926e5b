package runstate

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestEnvRoundTripAndShellCompatibility(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	vars := map[string]string{"PLAIN": "/a/b:c", "SPACED": "a b", "QUOTE": "it's", "EMPTY": ""}
	if err := WriteEnv(path, vars); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vars {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	out, err := exec.Command("bash", "-c", ". "+path+` && printf '%s|%s|%s' "$PLAIN" "$SPACED" "$QUOTE"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "/a/b:c|a b|it's" {
		t.Fatalf("bash read %q", out)
	}
}

func TestProcessesReferencingFindsAChild(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "sleep 30; : "+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Start returns once the child is forked; its command line names dir only after
	// it has exec'd sh, which on a loaded machine can take a moment.
	var pids []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		pids = ProcessesReferencing(dir)
		if len(pids) == 1 && pids[0] == cmd.Process.Pid || time.Now().After(deadline) {
			break
		}
	}
	if len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("found %v, want [%d]", pids, cmd.Process.Pid)
	}
	if !Alive(cmd.Process.Pid) || Alive(0) {
		t.Fatal("Alive is wrong")
	}
}
