// Package client is a small Go client of the sandbox's control endpoint, for
// tests: `client.New(os.Getenv("CONTROL_URL"))`.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"metrics-server-rs/e2e/internal/controlapi"
)

// Client talks to one control endpoint.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for baseURL (the CONTROL_URL of the env file).
func New(baseURL string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{}}
}

// Error is a non-2xx answer.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("control endpoint: %d: %s", e.Status, e.Message) }

// defaultTimeout bounds a call whose context has no deadline of its own.
const defaultTimeout = 30 * time.Second

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e controlapi.Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Status returns the supervisor phase.
func (c *Client) Status(ctx context.Context) (controlapi.Status, error) {
	var s controlapi.Status
	return s, c.do(ctx, http.MethodGet, controlapi.PathStatus, nil, nil, &s)
}

// Summary describes the simulation; node limits the per-node list.
func (c *Client) Summary(ctx context.Context, node string) (controlapi.Summary, error) {
	var s controlapi.Summary
	q := url.Values{}
	if node != "" {
		q.Set("node", node)
	}
	return s, c.do(ctx, http.MethodGet, controlapi.PathSummary, q, nil, &s)
}

// SetUsage changes CPU rate, working set or swap of a target.
func (c *Client) SetUsage(ctx context.Context, req controlapi.UsageRequest) (controlapi.UsageResponse, error) {
	var r controlapi.UsageResponse
	return r, c.do(ctx, http.MethodPost, controlapi.PathUsage, nil, req, &r)
}

// Restart restarts a container.
func (c *Client) Restart(ctx context.Context, namespace, pod, container string) (controlapi.RestartResponse, error) {
	var r controlapi.RestartResponse
	return r, c.do(ctx, http.MethodPost, controlapi.PathRestart, nil,
		controlapi.RestartRequest{Namespace: namespace, Pod: pod, Container: container}, &r)
}

// RestartAPIServer restarts kube-apiserver, leaving it down for downFor, and
// returns once the new process is ready. Give ctx a deadline longer than
// downFor plus a start (the default 30 s may be too short).
func (c *Client) RestartAPIServer(ctx context.Context, downFor time.Duration) (controlapi.APIServerRestartResponse, error) {
	var r controlapi.APIServerRestartResponse
	return r, c.do(ctx, http.MethodPost, controlapi.PathAPIServerRestart, nil,
		controlapi.APIServerRestartRequest{DownFor: downFor.String()}, &r)
}

// CreatePod creates a pod that the sandbox runs.
func (c *Client) CreatePod(ctx context.Context, req controlapi.PodRequest) (controlapi.PodResponse, error) {
	var r controlapi.PodResponse
	return r, c.do(ctx, http.MethodPost, controlapi.PathPods, nil, req, &r)
}

// DeletePod deletes a pod.
func (c *Client) DeletePod(ctx context.Context, namespace, name string) error {
	return c.do(ctx, http.MethodDelete, controlapi.PathPods+"/"+url.PathEscape(namespace)+"/"+url.PathEscape(name), nil, nil, nil)
}

// SetFaults replaces the faults of the named nodes (all nodes if none).
func (c *Client) SetFaults(ctx context.Context, faults controlapi.Faults, nodes ...string) error {
	return c.do(ctx, http.MethodPut, controlapi.PathFaults, nil,
		controlapi.FaultRequest{Nodes: nodes, All: len(nodes) == 0, Faults: faults}, nil)
}

// ClearFaults removes the faults of the named nodes (all nodes if none).
func (c *Client) ClearFaults(ctx context.Context, nodes ...string) error {
	return c.do(ctx, http.MethodDelete, controlapi.PathFaults, url.Values{"node": nodes}, nil, nil)
}

// Faults lists the nodes that have faults.
func (c *Client) Faults(ctx context.Context) (map[string]controlapi.Faults, error) {
	var r controlapi.FaultsResponse
	return r.Nodes, c.do(ctx, http.MethodGet, controlapi.PathFaults, nil, nil, &r)
}

// SampleQuery selects a node, pod or container and a tick.
type SampleQuery struct {
	Node, Namespace, Pod, Container string
	// At picks the latest tick at or before it (zero: now).
	At time.Time
	// AtMillis, if non-zero, is used instead of At (a Prometheus timestamp).
	AtMillis int64
}

// Sample returns exactly what the kubelet reported at a tick.
func (c *Client) Sample(ctx context.Context, q SampleQuery) (controlapi.SampleResponse, error) {
	v := url.Values{}
	for k, val := range map[string]string{"node": q.Node, "namespace": q.Namespace, "pod": q.Pod, "container": q.Container} {
		if val != "" {
			v.Set(k, val)
		}
	}
	switch {
	case q.AtMillis != 0:
		v.Set("at", strconv.FormatInt(q.AtMillis, 10))
	case !q.At.IsZero():
		v.Set("at", q.At.UTC().Format(time.RFC3339Nano))
	}
	var r controlapi.SampleResponse
	return r, c.do(ctx, http.MethodGet, controlapi.PathSample, v, nil, &r)
}
