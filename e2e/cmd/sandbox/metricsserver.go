package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"metrics-server-rs/e2e/internal/metricsserver"
	"metrics-server-rs/e2e/internal/runstate"
)

const metricsServerUsage = `usage: sandbox metrics-server COMMAND [flags]

commands:
  start [flags] [-- EXTRA-ARGS]  install metrics-server as manifests/components.yaml describes and run
                                 the binary on this host as its ServiceAccount (see e2e/README.md)
  stop [--name N]                stop an instance (default: all) and unregister it
  status                         list running instances
`

// repoRoot is the directory above e2e/ when the binary lives in e2e/bin.
func repoRoot() string {
	if exe, err := os.Executable(); err == nil {
		return filepath.Dir(filepath.Dir(filepath.Dir(exe)))
	}
	return "."
}

func runMetricsServer(paths runstate.Paths, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, metricsServerUsage)
		return 2
	}
	switch args[0] {
	case "start":
		return metricsServerStart(paths, args[1:])
	case "stop":
		return metricsServerStop(paths, args[1:])
	case "status":
		return metricsServerStatus(paths)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", args[0], metricsServerUsage)
		return 2
	}
}

func adminClients(paths runstate.Paths) (metricsserver.Clients, aggregator.Interface, error) {
	config, err := clientcmd.BuildConfigFromFlags("", paths.Kubeconfig)
	if err != nil {
		return metricsserver.Clients{}, nil, fmt.Errorf("sandbox kubeconfig: %w (is the sandbox up?)", err)
	}
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return metricsserver.Clients{}, nil, err
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return metricsserver.Clients{}, nil, err
	}
	agg, err := aggregator.NewForConfig(config)
	if err != nil {
		return metricsserver.Clients{}, nil, err
	}
	return metricsserver.NewClients(kube, dyn), agg, nil
}

func metricsServerStart(paths runstate.Paths, args []string) int {
	fs := flag.NewFlagSet("metrics-server start", flag.ContinueOnError)
	root := repoRoot()
	opts := metricsserver.StartOptions{}
	fs.StringVar(&opts.Name, "name", "metrics-server", "instance name")
	fs.StringVar(&opts.Binary, "binary", filepath.Join(root, "target/release/metrics-server"), "metrics-server executable (any implementation taking metrics-server's flags)")
	fs.StringVar(&opts.Manifest, "manifest", filepath.Join(root, "manifests/components.yaml"), "install manifest; its Deployment's args are used")
	fs.IntVar(&opts.Port, "port", 0, "HTTPS port on HOST_IP (0: a free one)")
	noRegister := fs.Bool("no-register", false, "only run the binary; do not apply the manifest or route the APIService to it")
	fs.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "how long to wait for /readyz and the APIService")
	apiVersions := fs.String("api-versions", "", "comma-separated metrics.k8s.io versions to route here, e.g. v1beta1 for the Go original (default: every APIService of the manifest; the others are deleted)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *apiVersions != "" {
		opts.APIVersions = strings.Split(*apiVersions, ",")
	}
	opts.ExtraArgs = fs.Args()
	opts.Register = !*noRegister
	env, err := runstate.ReadEnv(paths.EnvFile)
	if err != nil {
		errorf("metrics-server: the sandbox is not up (%v); run e2e/sandbox up first", err)
		return 1
	}
	clients, agg, err := adminClients(paths)
	if err != nil {
		errorf("metrics-server: %v", err)
		return 1
	}
	ctx := context.Background()
	t0 := time.Now()
	instance, err := metricsserver.Start(ctx, paths, env, clients, agg, opts)
	if err != nil {
		errorf("metrics-server: %v", err)
		if instance != nil {
			_ = instance.Stop(5 * time.Second)
		}
		return 1
	}
	fmt.Printf("sandbox: metrics-server %q ready in %v: pid %d, %s, log %s\n",
		instance.Name, time.Since(t0).Round(100*time.Millisecond), instance.PID, instance.URL(), instance.Log())
	if instance.Registered {
		fmt.Printf("  APIService %s Available; try: kubectl --kubeconfig %s top node\n", metricsserver.APIServiceName, paths.Kubeconfig)
	}
	return 0
}

func metricsServerStop(paths runstate.Paths, args []string) int {
	fs := flag.NewFlagSet("metrics-server stop", flag.ContinueOnError)
	name := fs.String("name", "", "instance to stop (default: all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if *name == "" {
		err = metricsserver.StopAll(paths, 10*time.Second)
	} else {
		instance, loadErr := metricsserver.Load(filepath.Join(metricsserver.InstancesDir(paths), *name))
		if loadErr != nil {
			fmt.Printf("sandbox: no metrics-server instance %q\n", *name)
			return 0
		}
		err = instance.Stop(10 * time.Second)
	}
	if err != nil {
		errorf("metrics-server: %v", err)
		return 1
	}
	if clients, _, cerr := adminClients(paths); cerr == nil {
		_ = clients.Unregister(context.Background())
	}
	fmt.Println("sandbox: metrics-server stopped")
	return 0
}

func metricsServerStatus(paths runstate.Paths) int {
	entries, _ := os.ReadDir(metricsserver.InstancesDir(paths))
	found := false
	for _, entry := range entries {
		instance, err := metricsserver.Load(filepath.Join(metricsserver.InstancesDir(paths), entry.Name()))
		if err != nil {
			continue
		}
		found = true
		fmt.Printf("%s\tpid %d\t%s\tregistered=%v\t%s\n", instance.Name, instance.PID, instance.URL(), instance.Registered, instance.Binary)
	}
	if !found {
		fmt.Println("no metrics-server instance")
		return 1
	}
	return 0
}
