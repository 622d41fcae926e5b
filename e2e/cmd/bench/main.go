// Command bench measures a metrics-server binary against the e2e sandbox at
// a given scale and prints one table (see e2e/README.md, "Benchmark"):
//
//	e2e/bench --nodes N --pods-per-node M [--containers-per-pod C] [--resolution 15s]
//	          [--cycles K] [--samples S] [--keep] [--json FILE] [--binary PATH]
//	          [--compare upstream|PATH] [-- ARGS...]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"metrics-server-rs/e2e/internal/bench"
)

const usage = `usage: e2e/bench --nodes N --pods-per-node M [--containers-per-pod C] [--resolution 15s]
                 [--cycles K] [--samples S] [--keep] [--json FILE] [--binary PATH]
                 [--compare upstream|PATH] [-- ARGS...]

Brings up the e2e sandbox at that size (scenarios/scale.yaml with C containers
per filler pod) or reuses a running one of that size, runs the metrics-server
binary (default target/release/metrics-server, built when missing) with the
manifest's args, --metric-resolution and ARGS, measures K scrape cycles without
load, then S timed requests per query and path, and prints one table.
A sandbox bench started is stopped at the end unless --keep.

--compare runs a second binary the same way on the same sandbox right after
the first and adds a side-by-side table with the ratio of every figure;
"upstream" is the Go original, built by e2e/upstream/build from the Go module
pinned there. ARGS go to both binaries (both take metrics-server's flags).

flags:
`

// e2eDir is the directory above bin/, where this binary is built.
func e2eDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(exe)), nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		os.Exit(runSoak(os.Args[2:]))
	}
	os.Exit(run())
}

// command is what both subcommands start from: their flag set (printing
// usage on -h), the e2e directory and the default binary.
func command(name, usage string) (fs *flag.FlagSet, dir, defaultBinary string, err error) {
	if dir, err = e2eDir(); err != nil {
		return nil, "", "", err
	}
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		fs.PrintDefaults()
	}
	return fs, dir, filepath.Join(filepath.Dir(dir), "target", "release", "metrics-server"), nil
}

func run() int {
	fs, dir, defaultBinary, err := command("bench", usage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	o := bench.Options{Log: os.Stderr}
	fs.IntVar(&o.Nodes, "nodes", 0, "simulated nodes (required)")
	fs.IntVar(&o.PodsPerNode, "pods-per-node", -1, "filler pods per node (required)")
	fs.IntVar(&o.ContainersPerPod, "containers-per-pod", 2, "containers per filler pod")
	fs.DurationVar(&o.Resolution, "resolution", 15*time.Second, "--metric-resolution given to the binary")
	fs.IntVar(&o.Cycles, "cycles", 5, "scrape cycles to measure")
	fs.IntVar(&o.Samples, "samples", 100, "timed requests per query and path")
	fs.StringVar(&o.Binary, "binary", defaultBinary, "metrics-server executable (any implementation taking metrics-server's flags)")
	fs.BoolVar(&o.Keep, "keep", false, "leave a sandbox that bench started running")
	jsonFile := fs.String("json", "", "also write the figures to this file as JSON")
	compare := fs.String("compare", "", `measure this binary too, right after, on the same sandbox ("upstream": the Go original from e2e/upstream)`)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if o.Nodes <= 0 || o.PodsPerNode < 0 {
		fmt.Fprintln(os.Stderr, "bench: --nodes and --pods-per-node are required")
		fs.Usage()
		return 2
	}
	o.BinaryArgs = fs.Args()
	if o.Sandbox, err = prepare(&o.Binary, defaultBinary, dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	var other string
	if *compare != "" {
		if other, err = comparedBinary(*compare, dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var result interface{ WriteTable(io.Writer) error }
	if other == "" {
		result, err = bench.Run(ctx, o)
	} else {
		result, err = bench.Compare(ctx, o, other)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if err := result.WriteTable(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if *jsonFile != "" {
		data, err := json.MarshalIndent(result, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonFile, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: writing JSON:", err)
			return 1
		}
	}
	return 0
}

// comparedBinary resolves --compare: "upstream" is built by e2e/upstream/build
// (which prints its path); anything else is an existing executable.
func comparedBinary(compare, e2eDir string) (string, error) {
	if compare == "upstream" {
		cmd := exec.Command(filepath.Join(e2eDir, "upstream", "build"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("building the Go original (e2e/upstream/build): %w", err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	abs, err := filepath.Abs(compare)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("--compare: %w", err)
	}
	return abs, nil
}

// prepare makes *binary absolute (building our release binary when it is the
// one asked for and missing) and returns the sandbox of e2eDir.
func prepare(binary *string, defaultBinary, e2eDir string) (bench.Sandbox, error) {
	abs, err := filepath.Abs(*binary)
	if err != nil {
		return bench.Sandbox{}, err
	}
	*binary = abs
	if err := ensureBinary(abs, defaultBinary, filepath.Dir(e2eDir)); err != nil {
		return bench.Sandbox{}, err
	}
	return bench.Sandbox{Script: filepath.Join(e2eDir, "sandbox"), RunDir: bench.DefaultRunDir(e2eDir), Out: os.Stderr}, nil
}

// ensureBinary builds our release binary when it is the one asked for and
// is missing; another implementation's binary must exist.
func ensureBinary(binary, defaultBinary, repoRoot string) error {
	if _, err := os.Stat(binary); err == nil {
		return nil
	}
	if binary != defaultBinary {
		return fmt.Errorf("metrics-server binary %s does not exist", binary)
	}
	fmt.Fprintln(os.Stderr, "bench: building", binary, "(cargo build --release -p metrics-server)")
	cmd := exec.Command("cargo", "build", "--release", "-p", "metrics-server")
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cargo build --release -p metrics-server: %w", err)
	}
	return nil
}
