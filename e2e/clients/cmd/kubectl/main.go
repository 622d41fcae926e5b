// Command kubectl is kubectl of this module's Kubernetes release (k8s.io/kubectl
// v0.37.2, i.e. 1.37), built as e2e/bin/kubectl-1.37 by e2e/clients/build: the
// e2e tests use it for what older kubectls lack (`kubectl top --show-swap`).
// It is upstream's command, started the way upstream's main starts it.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// -v is honoured while the command is built, as in upstream's main.
	_, _ = logs.GlogSetter(cmd.GetLogVerbosity(os.Args))
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
