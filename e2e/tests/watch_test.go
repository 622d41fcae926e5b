package tests

// Watch through the real aggregator: what the Go original answers with 405
// (metrics-server#87).

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKubectlGetWatchPrintsEachScrape runs `kubectl get nodes.metrics.k8s.io -w`
// for a little over two resolutions: the header once, every node at once, then
// every node again after each scrape cycle.
func TestKubectlGetWatchPrintsEachScrape(t *testing.T) {
	nodes := strings.Fields(kubectl(t, "get", "nodes.metrics.k8s.io", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(nodes) == 0 {
		t.Fatal("no node has metrics")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*defaultResolution+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", env["KUBECONFIG"], "get", "nodes.metrics.k8s.io", "-w")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	_ = cmd.Run() // ended by the context: -w never ends by itself
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "CPU") || !strings.Contains(lines[0], "WINDOW") {
		t.Fatalf("kubectl get -w printed no header:\n%s\nstderr: %s", out.String(), errOut.String())
	}
	headers := 0
	rows := map[string]int{}
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "NAME" {
			headers++
			continue
		}
		rows[fields[0]]++
	}
	if headers != 1 {
		t.Errorf("%d header lines, want 1:\n%s", headers, out.String())
	}
	for _, node := range nodes {
		// ADDED at once, then MODIFIED at least once per cycle that passed.
		if rows[node] < 2 {
			t.Errorf("node %s printed %d times in %v, want at least 2:\n%s\nstderr: %s",
				node, rows[node], 2*defaultResolution, out.String(), errOut.String())
		}
	}
}

// TestTypedClientWatchesInEveryEncoding watches nodes and pods with the
// newest typed client, protobuf-only and JSON, both versions, through the
// aggregator: ADDED for what is served, MODIFIED after a scrape cycle.
func TestTypedClientWatchesInEveryEncoding(t *testing.T) {
	for _, version := range []string{"v1", "v1beta1"} {
		for _, contentType := range []string{"json", "protobuf-only"} {
			t.Run(version+"/"+contentType, func(t *testing.T) {
				t.Parallel()
				wantMedia := "application/json"
				if contentType != "json" {
					wantMedia = "application/vnd.kubernetes.protobuf"
				}
				nodes := typedRead(t, "--api-version", version, "--content-type", contentType, "list-nodes")
				out, err := metricsClient(t, "--api-version", version, "--content-type", contentType,
					"watch-nodes", "--watch-seconds", strconv.Itoa(int((2*defaultResolution+5*time.Second)/time.Second)))
				if err != nil {
					t.Fatalf("watch-nodes: %v\n%s", err, out)
				}
				events := typedLines(t, out)
				added, modified := map[string]bool{}, map[string]bool{}
				for _, e := range events {
					if e.mediaType() != wantMedia {
						t.Errorf("event content type %q, want %s", e.ContentType, wantMedia)
					}
					switch e.Type {
					case "ADDED":
						added[e.Name] = true
					case "MODIFIED":
						modified[e.Name] = true
						if e.Usage["cpu"] == "" || e.Usage["memory"] == "" {
							t.Errorf("MODIFIED %s without usage: %+v", e.Name, e.typedItem)
						}
					}
				}
				for _, node := range nodes.Items {
					if !added[node.Name] || !modified[node.Name] {
						t.Errorf("node %s: ADDED %v, MODIFIED %v; events:\n%s", node.Name, added[node.Name], modified[node.Name], out)
					}
				}

				// Pods of one namespace: ADDED for each, nothing from elsewhere.
				out, err = metricsClient(t, "--api-version", version, "--content-type", contentType,
					"watch-pods", "--namespace", "default", "--watch-seconds", "3")
				if err != nil {
					t.Fatalf("watch-pods: %v\n%s", err, out)
				}
				pods := 0
				for _, e := range typedLines(t, out) {
					if e.Namespace != "default" {
						t.Errorf("watch of default sent %s/%s", e.Namespace, e.Name)
					}
					if e.Type == "ADDED" {
						pods++
					}
				}
				if pods == 0 {
					t.Errorf("watch-pods default: no ADDED event:\n%s", out)
				}
			})
		}
	}
}
