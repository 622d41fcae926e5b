// Command sandbox runs the metrics-server-rs end-to-end sandbox: a real
// kube-apiserver (aggregation layer on), kube-controller-manager (HPA) and
// etcd, built from the upstream Kubernetes modules, with simulated kubelets.
//
// User commands: up, down, status. Internal commands (run by the sandbox
// itself): supervise, etcd, apiserver, controller-manager.
// See e2e/README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/component-base/cli"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"

	"metrics-server-rs/e2e/internal/controlplane"
	"metrics-server-rs/e2e/internal/runstate"
	"metrics-server-rs/e2e/internal/supervisor"
)

const usage = `usage: sandbox [--run-dir DIR] COMMAND [flags]

commands:
  up      start the sandbox in the background (see: sandbox up --help)
  down    stop it and verify that no process is left
  status  show components, pids, URLs, memory, node and pod counts
  metrics-server start|stop|status
          install and run metrics-server against the sandbox (see: sandbox metrics-server)

The run directory defaults to $SANDBOX_RUN_DIR, else <e2e>/.run next to bin/.
`

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	// The control-plane subcommands take their own flags verbatim.
	switch args[0] {
	case "apiserver":
		cmd := apiserverapp.NewAPIServerCommand()
		cmd.SetArgs(args[1:])
		os.Exit(cli.Run(cmd))
	case "controller-manager":
		cmd := kcmapp.NewControllerManagerCommand()
		cmd.SetArgs(args[1:])
		os.Exit(cli.Run(cmd))
	case "etcd":
		if err := controlplane.RunEtcd(args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "etcd:", err)
			os.Exit(1)
		}
		return
	}

	global := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	global.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	runDir := global.String("run-dir", defaultRunDir(), "run directory")
	if err := global.Parse(args); err != nil {
		os.Exit(2)
	}
	rest := global.Args()
	if len(rest) == 0 {
		global.Usage()
		os.Exit(2)
	}
	paths, err := runstate.NewPaths(*runDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var code int
	switch rest[0] {
	case "up":
		code = runUp(paths, rest[1:])
	case "down":
		code = runDown(paths, rest[1:])
	case "status":
		code = runStatus(paths, rest[1:])
	case "metrics-server":
		code = runMetricsServer(paths, rest[1:])
	case "supervise":
		code = runSupervise(paths)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", rest[0], usage)
		code = 2
	}
	os.Exit(code)
}

// defaultRunDir is $SANDBOX_RUN_DIR, else e2e/.run when the binary lives in
// e2e/bin, else ./.run.
func defaultRunDir() string {
	if d := os.Getenv("SANDBOX_RUN_DIR"); d != "" {
		return d
	}
	if exe, err := os.Executable(); err == nil {
		if dir := filepath.Dir(exe); filepath.Base(dir) == "bin" {
			return filepath.Join(filepath.Dir(dir), ".run")
		}
	}
	return ".run"
}

func runSupervise(paths runstate.Paths) int {
	if err := supervisor.Run(paths); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		return 1
	}
	return 0
}

// errorf prints a message prefixed like the other sandbox output.
func errorf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(os.Stderr, "sandbox: "+strings.TrimRight(msg, "\n"))
}
