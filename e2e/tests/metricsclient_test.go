package tests

// The typed clientset of the newest k8s.io/metrics release, reading through
// the aggregator. This module stays at an older Kubernetes release, so that
// client is a separate program: e2e/bin/metrics-client, built from the module
// e2e/clients, which prints what it decoded as JSON lines.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientsBuild builds the programs of e2e/clients (metrics-client and kubectl-1.37).
var clientsBuild = &goProgramBuild{script: "clients/build"}

// buildClients builds the programs of e2e/clients (metrics-client and
// kubectl-1.37) when needed, once per test binary.
func buildClients(t *testing.T) {
	t.Helper()
	clientsBuild.ensure(t)
}

// kubectl137 runs e2e/bin/kubectl-1.37, kubectl of the same release as
// metrics-client (built from e2e/clients with it), against the sandbox: for
// what the installed kubectl may lack, such as `top --show-swap`. err
// carries its stderr when it failed.
func kubectl137(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	buildClients(t)
	stdout, stderr, err := (kubectlBinary{name: "1.37", path: filepath.Join(e2eDir, "bin", "kubectl-1.37"), minor: 37}).run(args...)
	if err != nil {
		return stdout, fmt.Errorf("kubectl-1.37 %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, nil
}

// metricsClient runs e2e/bin/metrics-client against the sandbox, building it
// first (once per test binary). stdout holds its JSON lines, also when it
// failed; err then carries its stderr.
func metricsClient(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	buildClients(t)
	cmd := exec.Command(filepath.Join(e2eDir, "bin", "metrics-client"),
		append([]string{"--kubeconfig", env["KUBECONFIG"]}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("metrics-client %s: %w\n%s", strings.Join(args, " "), err, errOut.Bytes())
	}
	return out.String(), nil
}

// ---- metrics-client's output lines ----

type typedContainer struct {
	Name  string            `json:"name"`
	Usage map[string]string `json:"usage"`
}

// typedItem is one NodeMetrics (with usage) or PodMetrics (with containers).
type typedItem struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Timestamp  time.Time         `json:"timestamp"`
	Window     string            `json:"window"`
	Usage      map[string]string `json:"usage"`
	Containers []typedContainer  `json:"containers"`
}

type typedError struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// typedLine is any line metrics-client prints: a list or get (a get is a list
// of one), a watch event (Type and the item's fields), or an API error.
// ContentType is what the server answered with.
type typedLine struct {
	APIVersion  string      `json:"apiVersion"`
	Kind        string      `json:"kind"`
	ContentType string      `json:"contentType"`
	Items       []typedItem `json:"items"`
	Type        string      `json:"type"`
	typedItem
	Error *typedError `json:"error"`
}

// mediaType is ContentType without parameters (";stream=watch").
func (l typedLine) mediaType() string {
	mt, _, _ := mime.ParseMediaType(l.ContentType)
	return mt
}

func typedLines(t *testing.T, stdout string) []typedLine {
	t.Helper()
	var lines []typedLine
	for _, s := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if s == "" {
			continue
		}
		var l typedLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("metrics-client printed %q: %v", s, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// typedRead runs a list or get that must succeed and returns its line.
func typedRead(t *testing.T, args ...string) typedLine {
	t.Helper()
	out, err := metricsClient(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := typedLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("metrics-client %s: want one line, got %q", strings.Join(args, " "), out)
	}
	return lines[0]
}

// typedFailure runs a command that must fail with an API error and returns
// the error line.
func typedFailure(t *testing.T, args ...string) typedLine {
	t.Helper()
	out, err := metricsClient(t, args...)
	if err == nil {
		t.Fatalf("metrics-client %s succeeded: %s", strings.Join(args, " "), out)
	}
	lines := typedLines(t, out)
	if len(lines) != 1 || lines[0].Error == nil {
		t.Fatalf("want one error line: %v; stdout %q", err, out)
	}
	return lines[0]
}

func TestTypedClientsOfTheNewestReleaseReadBothVersionsInEveryEncoding(t *testing.T) {
	// The node each Running pod is bound to, to choose a node with pods.
	out := kubectl(t, "get", "pods", "-A", "--field-selector=status.phase=Running", "-o",
		"jsonpath={range .items[*]}{.spec.nodeName} {.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}")
	nodeOf := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if node, pod, ok := strings.Cut(line, " "); ok {
			nodeOf[pod] = node
		}
	}

	for _, version := range []string{"v1", "v1beta1"} {
		for _, contentType := range []string{"json", "protobuf", "protobuf-only"} {
			t.Run(version+"/"+contentType, func(t *testing.T) {
				// Both protobuf modes must be answered in protobuf: client-go
				// would decode a JSON answer just as well.
				wantMedia := "application/vnd.kubernetes.protobuf"
				if contentType == "json" {
					wantMedia = "application/json"
				}
				check := func(what string, l typedLine, kind string) {
					t.Helper()
					if l.APIVersion != "metrics.k8s.io/"+version || l.Kind != kind || l.mediaType() != wantMedia {
						t.Errorf("%s: apiVersion %q kind %q content type %q, want metrics.k8s.io/%s %s %s",
							what, l.APIVersion, l.Kind, l.ContentType, version, kind, wantMedia)
					}
				}
				checkNode := func(what string, item typedItem) {
					t.Helper()
					// Every simulated kubelet reports node swap, served beside cpu and memory.
					if item.Name == "" || item.Usage["cpu"] == "" || item.Usage["memory"] == "" || item.Usage["swap"] == "" {
						t.Errorf("%s: node without name, cpu, memory or swap: %+v", what, item)
					}
				}
				args := func(a ...string) []string {
					return append([]string{"--api-version", version, "--content-type", contentType}, a...)
				}

				nodes := typedRead(t, args("list-nodes")...)
				check("list-nodes", nodes, "NodeMetricsList")
				if len(nodes.Items) == 0 {
					t.Fatal("list-nodes: no items")
				}
				for _, item := range nodes.Items {
					checkNode("list-nodes", item)
				}
				pods := typedRead(t, args("list-pods")...)
				check("list-pods", pods, "PodMetricsList")
				if len(pods.Items) == 0 {
					t.Fatal("list-pods: no items")
				}

				name := nodes.Items[0].Name
				node := typedRead(t, args("get-node", name)...)
				check("get-node", node, "NodeMetrics")
				if len(node.Items) != 1 || node.Items[0].Name != name {
					t.Errorf("get-node %s: %+v", name, node.Items)
				} else {
					checkNode("get-node", node.Items[0])
				}

				first := pods.Items[0]
				pod := typedRead(t, args("get-pod", first.Namespace, first.Name)...)
				check("get-pod", pod, "PodMetrics")
				if len(pod.Items) != 1 || pod.Items[0].Namespace != first.Namespace || pod.Items[0].Name != first.Name ||
					len(pod.Items[0].Containers) == 0 {
					t.Errorf("get-pod %s/%s: %+v", first.Namespace, first.Name, pod.Items)
				}

				// The pods of one node are among all pods and bound to it (both
				// lists are read in one try; a scrape cycle between them is retried).
				var withPods string
				for _, item := range pods.Items {
					if withPods = nodeOf[item.Namespace+"/"+item.Name]; withPods != "" {
						break
					}
				}
				if withPods == "" {
					t.Fatalf("no listed pod is bound to a node: %v", nodeOf)
				}
				eventually(t, 2*defaultResolution, "pods of "+withPods, func() (bool, string) {
					all := typedRead(t, args("list-pods")...)
					onNode := typedRead(t, args("list-pods", "--field-selector", "spec.nodeName="+withPods)...)
					check("list-pods --field-selector", onNode, "PodMetricsList")
					listed := map[string]bool{}
					for _, item := range all.Items {
						listed[item.Namespace+"/"+item.Name] = true
					}
					var got []string
					for _, item := range onNode.Items {
						key := item.Namespace + "/" + item.Name
						got = append(got, key)
						if bound, known := nodeOf[key]; !listed[key] || known && bound != withPods {
							return false, fmt.Sprintf("%s: listed %v, bound to %q", key, listed[key], bound)
						}
					}
					return len(got) > 0, strings.Join(got, ",")
				})

				missing := typedFailure(t, args("get-node", "no-such-node")...)
				if missing.Error.Code != 404 || missing.Error.Reason != "NotFound" || missing.mediaType() != wantMedia {
					t.Errorf("get-node no-such-node: %+v, content type %q", *missing.Error, missing.ContentType)
				}
			})
		}
	}
}
