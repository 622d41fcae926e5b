// Command metrics-client reads metrics.k8s.io through the typed clientset of
// k8s.io/metrics, the way controllers (the HPA, kubectl top) do, and prints
// what it decoded as JSON lines so that tests in another Go module (pinned to
// an older Kubernetes release) can check it. It lives in its own module so the
// newest release's clients can be used without moving the e2e module.
//
// Output, one JSON document per line on stdout:
//
//	list/get: {"apiVersion","kind","contentType","items":[{"namespace","name","timestamp",
//	           "window","usage":{...} (nodes),"containers":[{"name","usage":{...}}] (pods)}]}
//	watch:    {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","contentType", ...the item fields...}
//	error:    {"error":{"code","reason","message"},"contentType"} when the server answered a Status
//
// contentType is the Content-Type the server answered with: client-go decodes
// whatever it gets, so only this proves that a protobuf request was answered
// in protobuf.
//
// Exit status: 0 on success, 1 on an error (printed to stderr), 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	metricsv1 "k8s.io/metrics/pkg/apis/metrics/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/metrics/pkg/client/clientset/versioned/scheme"
)

const usage = `Usage: metrics-client --kubeconfig PATH [flags] COMMAND [ARGS]

Commands:
  list-nodes
  list-pods   [--namespace NS] [--field-selector S] [--label-selector S]
  get-node    NAME
  get-pod     NAMESPACE NAME
  watch-nodes [--field-selector S] [--label-selector S] [--watch-seconds N] [--max-events N]
  watch-pods  [--namespace NS] [--field-selector S] [--label-selector S] [--watch-seconds N] [--max-events N]

Flags may come before or after the command.

`

const protobuf = "application/vnd.kubernetes.protobuf"

// contentTypes maps --content-type to rest.Config's ContentType and
// AcceptContentTypes.
var contentTypes = map[string][2]string{
	"json": {"application/json", ""},
	// What the HPA controller sends: protobuf, JSON accepted as a fallback.
	"protobuf": {protobuf, protobuf + ",application/json"},
	// Accept names protobuf alone. client-go would still decode a JSON answer;
	// the printed contentType tells which one came.
	"protobuf-only": {protobuf, protobuf},
}

type options struct {
	kubeconfig, apiVersion, contentType     string
	timeout                                 time.Duration
	namespace, fieldSelector, labelSelector string
	watchSeconds, maxEvents                 int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("metrics-client", flag.ContinueOnError)
	// Parse errors are printed below; the full usage only for --help, on stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (required)")
	fs.StringVar(&o.apiVersion, "api-version", "v1", "metrics.k8s.io version: v1 or v1beta1")
	fs.StringVar(&o.contentType, "content-type", "json", "json, protobuf or protobuf-only")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of a list or get (a watch may last --watch-seconds longer)")
	fs.StringVar(&o.namespace, "namespace", "", "namespace of pods (default: all namespaces)")
	fs.StringVar(&o.fieldSelector, "field-selector", "", "field selector of a list or watch")
	fs.StringVar(&o.labelSelector, "label-selector", "", "label selector of a list or watch")
	fs.IntVar(&o.watchSeconds, "watch-seconds", 10, "how long a watch lasts")
	fs.IntVar(&o.maxEvents, "max-events", 0, "stop a watch after this many events (0: no limit)")

	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err == nil {
		err = validate(fs, o, positional)
	}
	if err != nil {
		fmt.Fprintln(stderr, "metrics-client:", err)
		fmt.Fprintln(stderr, "Run metrics-client --help for usage.")
		return 2
	}

	if err := execute(o, positional, stdout); err != nil {
		fmt.Fprintln(stderr, "metrics-client:", err)
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			s := status.Status()
			printLine(stdout, errorOut{&statusOut{s.Code, string(s.Reason), s.Message}, responseContentType()})
		}
		return 1
	}
	return 0
}

// parseInterspersed parses flags wherever they are, since Go's flag package
// stops at the first positional argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// validate rejects flags a command does not use, so a typo in a test cannot
// silently widen what it reads.
func validate(fs *flag.FlagSet, o options, positional []string) error {
	if o.kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	if o.apiVersion != "v1" && o.apiVersion != "v1beta1" {
		return fmt.Errorf("--api-version %q: want v1 or v1beta1", o.apiVersion)
	}
	if _, ok := contentTypes[o.contentType]; !ok {
		return fmt.Errorf("--content-type %q: want json, protobuf or protobuf-only", o.contentType)
	}
	if len(positional) == 0 {
		return errors.New("no command given")
	}
	var nargs int
	var allowed []string
	switch cmd := positional[0]; cmd {
	case "list-nodes":
		allowed = []string{"field-selector", "label-selector"}
	case "list-pods":
		allowed = []string{"namespace", "field-selector", "label-selector"}
	case "get-node":
		nargs = 1
	case "get-pod":
		nargs = 2
	case "watch-nodes":
		allowed = []string{"field-selector", "label-selector", "watch-seconds", "max-events"}
	case "watch-pods":
		allowed = []string{"namespace", "field-selector", "label-selector", "watch-seconds", "max-events"}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	if len(positional)-1 != nargs {
		return fmt.Errorf("%s takes %d argument(s), got %q", positional[0], nargs, positional[1:])
	}
	global := []string{"kubeconfig", "api-version", "content-type", "timeout"}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if !contains(global, f.Name) && !contains(allowed, f.Name) {
			err = fmt.Errorf("%s does not take --%s", positional[0], f.Name)
		}
	})
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// api is one metrics.k8s.io version's typed client, with its typed results
// returned as runtime.Object so the rest of the program serves both versions.
type api struct {
	listNodes  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	listPods   func(context.Context, string, metav1.ListOptions) (runtime.Object, error)
	getNode    func(context.Context, string) (runtime.Object, error)
	getPod     func(context.Context, string, string) (runtime.Object, error)
	watchNodes func(context.Context, metav1.ListOptions) (watch.Interface, error)
	watchPods  func(context.Context, string, metav1.ListOptions) (watch.Interface, error)
}

func v1API(cs *versioned.Clientset) api {
	c := cs.MetricsV1()
	return api{
		listNodes: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.NodeMetricses().List(ctx, o)
		},
		listPods: func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.PodMetricses(ns).List(ctx, o)
		},
		getNode: func(ctx context.Context, name string) (runtime.Object, error) {
			return c.NodeMetricses().Get(ctx, name, metav1.GetOptions{})
		},
		getPod: func(ctx context.Context, ns, name string) (runtime.Object, error) {
			return c.PodMetricses(ns).Get(ctx, name, metav1.GetOptions{})
		},
		watchNodes: c.NodeMetricses().Watch,
		watchPods: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
			return c.PodMetricses(ns).Watch(ctx, o)
		},
	}
}

func v1beta1API(cs *versioned.Clientset) api {
	c := cs.MetricsV1beta1()
	return api{
		listNodes: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.NodeMetricses().List(ctx, o)
		},
		listPods: func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.PodMetricses(ns).List(ctx, o)
		},
		getNode: func(ctx context.Context, name string) (runtime.Object, error) {
			return c.NodeMetricses().Get(ctx, name, metav1.GetOptions{})
		},
		getPod: func(ctx context.Context, ns, name string) (runtime.Object, error) {
			return c.PodMetricses(ns).Get(ctx, name, metav1.GetOptions{})
		},
		watchNodes: c.NodeMetricses().Watch,
		watchPods: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
			return c.PodMetricses(ns).Watch(ctx, o)
		},
	}
}

func execute(o options, positional []string, stdout io.Writer) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	ct := contentTypes[o.contentType]
	cfg.ContentType, cfg.AcceptContentTypes = ct[0], ct[1]
	cfg.WrapTransport = recordContentType
	// cfg.Timeout stays unset, as in the HPA's client: contexts bound the
	// requests, and no ?timeout= parameter is sent.
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	a := v1API(cs)
	if o.apiVersion == "v1beta1" {
		a = v1beta1API(cs)
	}
	lo := metav1.ListOptions{FieldSelector: o.fieldSelector, LabelSelector: o.labelSelector}

	cmd := positional[0]
	if strings.HasPrefix(cmd, "watch-") {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout+time.Duration(o.watchSeconds)*time.Second)
		defer cancel()
		// Ask the server to end the watch too, so a short watch ends cleanly.
		seconds := int64(o.watchSeconds)
		lo.TimeoutSeconds = &seconds
		var w watch.Interface
		if cmd == "watch-nodes" {
			w, err = a.watchNodes(ctx, lo)
		} else {
			w, err = a.watchPods(ctx, o.namespace, lo)
		}
		if err != nil {
			return err
		}
		return printEvents(w, o, stdout)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var obj runtime.Object
	switch cmd {
	case "list-nodes":
		obj, err = a.listNodes(ctx, lo)
	case "list-pods":
		obj, err = a.listPods(ctx, o.namespace, lo)
	case "get-node":
		obj, err = a.getNode(ctx, positional[1])
	case "get-pod":
		obj, err = a.getPod(ctx, positional[1], positional[2])
	}
	if err != nil {
		return err
	}
	return printObject(obj, o.apiVersion, stdout)
}

// lastContentType is the Content-Type of the latest response (a run sends
// one request).
var lastContentType atomic.Value

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func recordContentType(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if resp != nil {
			lastContentType.Store(resp.Header.Get("Content-Type"))
		}
		return resp, err
	})
}

func responseContentType() string {
	s, _ := lastContentType.Load().(string)
	return s
}

// ---- output ----

type containerOut struct {
	Name  string            `json:"name"`
	Usage map[string]string `json:"usage"`
}

// itemOut is one NodeMetrics or PodMetrics. omitzero keeps nodes without
// "containers" and pods without "usage", while a pod with no containers still
// prints "containers":[].
type itemOut struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Timestamp  metav1.Time       `json:"timestamp"`
	Window     metav1.Duration   `json:"window"`
	Usage      map[string]string `json:"usage,omitzero"`
	Containers []containerOut    `json:"containers,omitzero"`
}

type listOut struct {
	APIVersion  string    `json:"apiVersion"`
	Kind        string    `json:"kind"`
	ContentType string    `json:"contentType"`
	Items       []itemOut `json:"items"`
}

type statusOut struct {
	Code    int32  `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type errorOut struct {
	Error       *statusOut `json:"error"`
	ContentType string     `json:"contentType"`
}

type eventOut struct {
	Type        string `json:"type"`
	ContentType string `json:"contentType"`
	itemOut
	Error *statusOut `json:"error,omitempty"`
}

func printLine(w io.Writer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain strings, maps and slices are marshalled
	}
	fmt.Fprintf(w, "%s\n", data)
}

func usageOf(l corev1.ResourceList) map[string]string {
	out := make(map[string]string, len(l))
	for name, q := range l {
		out[string(name)] = q.String()
	}
	return out
}

// itemOf reads one typed object of either version.
func itemOf(obj runtime.Object) (itemOut, error) {
	switch m := obj.(type) {
	case *metricsv1.NodeMetrics:
		return itemOut{m.Namespace, m.Name, m.Timestamp, m.Window, usageOf(m.Usage), nil}, nil
	case *metricsv1beta1.NodeMetrics:
		return itemOut{m.Namespace, m.Name, m.Timestamp, m.Window, usageOf(m.Usage), nil}, nil
	case *metricsv1.PodMetrics:
		it := itemOut{m.Namespace, m.Name, m.Timestamp, m.Window, nil, []containerOut{}}
		for _, c := range m.Containers {
			it.Containers = append(it.Containers, containerOut{c.Name, usageOf(c.Usage)})
		}
		return it, nil
	case *metricsv1beta1.PodMetrics:
		it := itemOut{m.Namespace, m.Name, m.Timestamp, m.Window, nil, []containerOut{}}
		for _, c := range m.Containers {
			it.Containers = append(it.Containers, containerOut{c.Name, usageOf(c.Usage)})
		}
		return it, nil
	}
	return itemOut{}, fmt.Errorf("unexpected object %T", obj)
}

// printObject prints a list, or a single object as a list of one.
func printObject(obj runtime.Object, version string, stdout io.Writer) error {
	// The typed client's decoder usually clears TypeMeta; then the kind comes
	// from the Go type the client decoded into.
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		kinds, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			return err
		}
		gvk = kinds[0]
	}
	if gvk.Version != version {
		return fmt.Errorf("asked for %s, decoded %s", version, gvk)
	}
	out := listOut{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		ContentType: responseContentType(), Items: []itemOut{}}
	objects := []runtime.Object{obj}
	if meta.IsListType(obj) {
		var err error
		if objects, err = meta.ExtractList(obj); err != nil {
			return err
		}
	}
	for _, o := range objects {
		it, err := itemOf(o)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, it)
	}
	printLine(stdout, out)
	return nil
}

// printEvents prints events until the watch time is up, enough events came,
// or the server ended the watch.
func printEvents(w watch.Interface, o options, stdout io.Writer) error {
	defer w.Stop()
	timer := time.NewTimer(time.Duration(o.watchSeconds) * time.Second)
	defer timer.Stop()
	for n := 0; o.maxEvents == 0 || n < o.maxEvents; n++ {
		var ev watch.Event
		var open bool
		select {
		case <-timer.C:
			return nil
		case ev, open = <-w.ResultChan():
			if !open {
				return nil
			}
		}
		out := eventOut{Type: string(ev.Type), ContentType: responseContentType()}
		if status, ok := ev.Object.(*metav1.Status); ok {
			out.Error = &statusOut{status.Code, string(status.Reason), status.Message}
		} else {
			it, err := itemOf(ev.Object)
			if err != nil {
				return err
			}
			out.itemOut = it
		}
		printLine(stdout, out)
	}
	return nil
}
