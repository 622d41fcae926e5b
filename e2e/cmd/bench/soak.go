package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"metrics-server-rs/e2e/internal/bench"
)

const soakUsage = `usage: e2e/soak [--nodes 1000] [--pods-per-node 30] [--containers-per-pod 2] [--duration 30m]
               [--churn 5] [--live 1000] [--resolution 15s] [--keep] [--binary PATH] [-- ARGS...]

Brings up the e2e sandbox at that size (scenarios/scale.yaml) or reuses a running
one of that size, runs the metrics-server binary (default target/release/metrics-server)
as instance "soak" for the duration while pods churn: every second --churn pods are
created and, once --live of them exist, as many of the oldest deleted. Prints the RSS
curve (median per minute) and compares the last five minutes with minutes 3–7.
A benchmark, not a test: it reports and does not judge.

flags:
`

func runSoak(argv []string) int {
	fs, dir, defaultBinary, err := command("soak", soakUsage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	o := bench.SoakOptions{Log: os.Stderr}
	fs.IntVar(&o.Nodes, "nodes", 1000, "simulated nodes")
	fs.IntVar(&o.PodsPerNode, "pods-per-node", 30, "filler pods per node")
	fs.IntVar(&o.ContainersPerPod, "containers-per-pod", 2, "containers per filler pod")
	fs.DurationVar(&o.Duration, "duration", 30*time.Minute, "how long to churn and sample")
	fs.IntVar(&o.ChurnPerSecond, "churn", 5, "pods created (and, at --live, deleted) per second")
	fs.IntVar(&o.Live, "live", 1000, "churned pods alive at once")
	fs.DurationVar(&o.Resolution, "resolution", 15*time.Second, "--metric-resolution given to the binary")
	fs.BoolVar(&o.Keep, "keep", false, "leave a sandbox that soak started running")
	fs.StringVar(&o.Binary, "binary", defaultBinary, "metrics-server executable")
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	o.BinaryArgs = fs.Args()
	if o.Sandbox, err = prepare(&o.Binary, defaultBinary, dir); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	result, err := bench.Soak(ctx, o)
	if result != nil {
		if werr := result.WriteTable(os.Stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	return 0
}
