package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"metrics-server-rs/e2e/internal/runstate"
	"metrics-server-rs/e2e/internal/scenario"
)

// Sandbox drives the e2e/sandbox command, so bench gets exactly what a user
// gets from it (build on demand, size checks, install of metrics-server).
type Sandbox struct {
	// Script is e2e/sandbox.
	Script string
	// RunDir is the sandbox's run directory (e2e/.run or $SANDBOX_RUN_DIR).
	RunDir string
	// Out receives the commands' output.
	Out io.Writer
}

// statusNotRunning is `sandbox status`'s exit code when nothing runs.
const statusNotRunning = 3

func (s Sandbox) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.Script, args...)
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	// A cancelled bench must not kill `up` or `down` halfway: let them finish.
	cmd.Cancel = func() error { return nil }
	return cmd
}

// Running reports whether a sandbox is up (healthy or not).
func (s Sandbox) Running(ctx context.Context) (bool, error) {
	cmd := exec.CommandContext(ctx, s.Script, "status")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == statusNotRunning:
		return false, nil
	case errors.As(err, &exit):
		return true, nil
	default:
		return false, fmt.Errorf("%s status: %w", s.Script, err)
	}
}

// WriteScaleScenario writes scenarios/scale.yaml with its filler pods given
// exactly containersPerPod containers, under the run directory. The file
// name carries the container count, so `up` (which compares scenario paths)
// reuses a running sandbox only when that count matches too.
func (s Sandbox) WriteScaleScenario(containersPerPod int) (string, error) {
	source := filepath.Join(filepath.Dir(s.Script), "scenarios", "scale.yaml")
	sc, err := scenario.Load(source)
	if err != nil {
		return "", err
	}
	fillers := 0
	for i := range sc.Pods {
		if sc.Pods[i].PerNode > 0 && len(sc.Pods[i].Containers) == 0 {
			sc.Pods[i].ContainersPerPod = containersPerPod
			fillers++
		}
	}
	if fillers == 0 {
		return "", fmt.Errorf("%s has no per-node filler pods with generated containers", source)
	}
	path := filepath.Join(s.RunDir, "bench", fmt.Sprintf("scale-%dc.json", containersPerPod))
	return path, runstate.WriteJSON(path, sc)
}

// Up starts a sandbox of that size, or checks that the running one is.
func (s Sandbox) Up(ctx context.Context, scenarioFile string, nodes, podsPerNode int) error {
	return s.command(ctx, "up", "--scenario", scenarioFile,
		"--nodes", fmt.Sprint(nodes), "--pods-per-node", fmt.Sprint(podsPerNode)).Run()
}

// UpForRun starts a sandbox of that size (scenarios/scale.yaml with
// containersPerPod containers per filler pod), or checks that the running one
// is that size. release stops a sandbox it started, unless keep; callers defer
// it with their named error, which a failed stop sets when it is still nil.
// reused says a sandbox was already running.
func (s Sandbox) UpForRun(ctx context.Context, nodes, podsPerNode, containersPerPod int, keep bool,
	logf func(format string, args ...any)) (reused bool, release func(*error), err error) {
	release = func(*error) {}
	running, err := s.Running(ctx)
	if err != nil {
		return false, release, err
	}
	if !running && !keep {
		// Cleanup must run even when ctx is cancelled (Ctrl-C).
		cleanup := context.WithoutCancel(ctx)
		release = func(result *error) {
			logf("stopping the sandbox it started (--keep keeps it)")
			if err := s.Down(cleanup); err != nil && *result == nil {
				*result = fmt.Errorf("sandbox down: %w", err)
			}
		}
	}
	scenarioFile, err := s.WriteScaleScenario(containersPerPod)
	if err != nil {
		return running, release, err
	}
	if running {
		logf("a sandbox is running; checking it has %d nodes × %d pods × %d containers", nodes, podsPerNode, containersPerPod)
	} else {
		logf("bringing up %d nodes × %d pods × %d containers", nodes, podsPerNode, containersPerPod)
	}
	if err := s.Up(ctx, scenarioFile, nodes, podsPerNode); err != nil {
		return running, release, fmt.Errorf("sandbox up (scenario %s): %w", scenarioFile, err)
	}
	return running, release, nil
}

// Down stops the sandbox.
func (s Sandbox) Down(ctx context.Context) error {
	return s.command(ctx, "down").Run()
}

// Env is the run directory's env file.
func (s Sandbox) Env() (map[string]string, error) {
	return runstate.ReadEnv(filepath.Join(s.RunDir, "env"))
}

// StartMetricsServer installs and runs binary as instance name; it returns
// once the instance is ready and the APIService routes to it.
func (s Sandbox) StartMetricsServer(ctx context.Context, name, binary string, timeout time.Duration, args []string) error {
	// Only v1beta1 is routed: it is all bench measures, and all the Go original
	// serves (a v1 APIService left pointing at it would never turn Available).
	cmdArgs := []string{"metrics-server", "start", "--name", name, "--binary", binary, "--timeout", timeout.String(), "--api-versions", "v1beta1", "--"}
	cmd := s.command(ctx, append(cmdArgs, args...)...)
	// Cancelling may kill this one: the instance it started is stopped by name.
	cmd.Cancel = nil
	return cmd.Run()
}

// StopMetricsServer stops instance name (a no-op when it is not running).
func (s Sandbox) StopMetricsServer(ctx context.Context, name string) error {
	return s.command(ctx, "metrics-server", "stop", "--name", name).Run()
}

// Instance is the part of the sandbox's instance.json bench needs.
type Instance struct {
	PID     int    `json:"pid"`
	Address string `json:"address"`
}

// instanceFile is where `metrics-server start` records instance name.
func (s Sandbox) instanceFile(name string) string {
	return filepath.Join(s.RunDir, "metrics-server", name, "instance.json")
}

// WaitInstance waits for instance.json to name a live process other than
// notPID (the previous run's), which `start` writes right after exec.
func (s Sandbox) WaitInstance(ctx context.Context, name string, notPID int, failed <-chan error) (Instance, error) {
	for {
		var instance Instance
		if err := runstate.ReadJSON(s.instanceFile(name), &instance); err == nil &&
			instance.PID > 0 && instance.PID != notPID && runstate.Alive(instance.PID) {
			return instance, nil
		}
		select {
		case <-ctx.Done():
			return Instance{}, ctx.Err()
		case err := <-failed:
			return Instance{}, fmt.Errorf("metrics-server start: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RecordedPID is the pid in instance.json now, 0 when there is none.
func (s Sandbox) RecordedPID(name string) int {
	var instance Instance
	if err := runstate.ReadJSON(s.instanceFile(name), &instance); err != nil {
		return 0
	}
	return instance.PID
}

// DefaultRunDir mirrors e2e/sandbox: $SANDBOX_RUN_DIR, else e2e/.run.
func DefaultRunDir(e2eDir string) string {
	if dir := os.Getenv("SANDBOX_RUN_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(e2eDir, ".run")
}
