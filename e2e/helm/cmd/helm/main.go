// Command helm is the Helm v4 CLI, built from the release pinned in this
// module's go.mod so the e2e tests lint and render manifests/chart with a
// known Helm instead of whatever helm a machine has (e2e/helm/build puts it
// at e2e/bin/helm).
package main

import (
	"errors"
	"os"

	helmcmd "helm.sh/helm/v4/pkg/cmd"
)

func main() {
	root, err := helmcmd.NewRootCmd(os.Stdout, os.Args[1:], helmcmd.SetupLogging)
	if err != nil {
		os.Stderr.WriteString("Error: " + err.Error() + "\n")
		os.Exit(1)
	}
	if err := root.Execute(); err != nil {
		// Cobra has printed the error; a CommandError carries the exit code
		// a subcommand chose (helm lint, for one).
		var cmdErr helmcmd.CommandError
		if errors.As(err, &cmdErr) {
			os.Exit(cmdErr.ExitCode)
		}
		os.Exit(1)
	}
}
