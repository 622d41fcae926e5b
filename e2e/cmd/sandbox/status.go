package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/runstate"
)

// Exit codes of `status`.
const (
	statusRunning    = 0
	statusUnhealthy  = 1
	statusNotRunning = 3
)

func runStatus(paths runstate.Paths, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var launch runstate.Launch
	if err := runstate.ReadJSON(paths.LaunchFile, &launch); err != nil || !supervisorAlive(launch.SupervisorPID) {
		fmt.Println("sandbox: not running")
		return statusNotRunning
	}
	var st runstate.State
	_ = runstate.ReadJSON(paths.StateFile, &st)
	fmt.Printf("phase:       %s", st.Phase)
	if st.Message != "" {
		fmt.Printf(" (%s: %s)", st.FailedComponent, st.Message)
	}
	fmt.Printf("\nscenario:    %s, %d nodes, %d pods per node, up since %s\n",
		launch.ScenarioSource, launch.Nodes, launch.PodsPerNode, launch.StartedAt.Format(time.RFC3339))
	healthy := st.Phase == runstate.PhaseReady
	fmt.Println("components:")
	etcdPID := childPID(launch.SupervisorPID, "etcd")
	for _, c := range []struct {
		name string
		pid  int
		url  string
	}{
		{"supervisor", launch.SupervisorPID, st.ControlURL + " (control endpoint; kubelets in-process)"},
		{"etcd", etcdPID, st.EtcdURL},
		{"kube-apiserver", st.APIServerPID, st.APIServerURL},
		{"kube-controller-manager", st.ControllerManagerPID, ""},
	} {
		state := "running"
		if !runstate.Alive(c.pid) {
			state = "NOT RUNNING"
			healthy = false
		}
		fmt.Printf("  %-24s pid %-7d %-11s rss %-9s %s\n", c.name, c.pid, state, rss(c.pid), c.url)
	}
	fmt.Printf("host IP:     %s   kubelets: %d nodes on 127.1.0.1..:10250", launch.HostIP, launch.Nodes)
	if launch.ExternalPrefix != "" {
		fmt.Printf(" (ExternalIPs in %s)", launch.ExternalPrefix)
	}
	fmt.Printf("\nkubeconfig:  %s\nenv file:    %s\n", paths.Kubeconfig, paths.EnvFile)
	if st.ControlURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s, err := client.New(st.ControlURL).Status(ctx); err == nil {
			fmt.Printf("pods:        %d running of %d expected at start\n", s.RunningPods, s.ExpectedPods)
		}
	}
	for stage, d := range st.Timings {
		if stage == "total" {
			fmt.Printf("startup:     %s\n", d)
		}
	}
	if !healthy {
		return statusUnhealthy
	}
	return statusRunning
}

// childPID finds the direct child of parent whose second argument is name.
func childPID(parent int, name string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if runstate.ParentPID(pid) != parent {
			continue
		}
		if args := runstate.Cmdline(pid); len(args) > 1 && args[1] == name {
			return pid
		}
	}
	return 0
}

// rss reads VmRSS of a process.
func rss(pid int) string {
	u, err := runstate.ReadProcessUsage(pid)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%dMiB", u.RSSBytes>>20)
}
