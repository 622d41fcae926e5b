package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Endpoint is one way to reach the metrics API: the server itself, or the
// kube-apiserver's aggregator in front of it.
type Endpoint struct {
	Name    string
	BaseURL string
	client  *http.Client
}

// AdminTLS is a client configuration presenting the sandbox admin
// certificate; with caFile empty the server certificate is not verified
// (metrics-server's self-signed serving certificate has no CA to check).
func AdminTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		config.InsecureSkipVerify = true //nolint:gosec // self-signed serving certificate, see above
		return config, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	config.RootCAs = pool
	return config, nil
}

// NewEndpoint makes a client that keeps its connection between requests and
// speaks HTTP/2 when the server offers it, as client-go (kubectl, the HPA)
// does; it asks for gzip like client-go, and the body is decompressed as read.
func NewEndpoint(name, baseURL string, config *tls.Config) *Endpoint {
	transport := &http.Transport{
		TLSClientConfig:     config,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     5 * time.Minute,
	}
	return &Endpoint{Name: name, BaseURL: baseURL, client: &http.Client{Transport: transport, Timeout: 2 * time.Minute}}
}

// Response is one timed request.
type Response struct {
	Status int
	// Elapsed runs from sending the request to reading the last body byte.
	Elapsed time.Duration
	// Bytes is the body length after decompression.
	Bytes int64
	// Gzip says the server compressed the body.
	Gzip bool
	// Body is kept only when asked for.
	Body []byte
}

// Get requests path as JSON and reads the whole body; keepBody keeps it.
func (e *Endpoint) Get(ctx context.Context, path string, keepBody bool) (Response, error) {
	return e.GetAccept(ctx, path, "application/json", keepBody)
}

// GetAccept is Get with another Accept header (protobuf).
func (e *Endpoint) GetAccept(ctx context.Context, path, accept string, keepBody bool) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+path, nil)
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Accept", accept)
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	out := Response{Status: resp.StatusCode, Gzip: resp.Uncompressed}
	if keepBody || resp.StatusCode != http.StatusOK {
		out.Body, err = io.ReadAll(resp.Body)
		out.Bytes = int64(len(out.Body))
	} else {
		out.Bytes, err = io.Copy(io.Discard, resp.Body)
	}
	out.Elapsed = time.Since(start)
	if err != nil {
		return out, fmt.Errorf("GET %s: reading body: %w", path, err)
	}
	return out, nil
}

// GetOK is Get that treats any status but 200 as an error.
func (e *Endpoint) GetOK(ctx context.Context, path string, keepBody bool) (Response, error) {
	return e.GetAcceptOK(ctx, path, "application/json", keepBody)
}

// GetAcceptOK is GetAccept that treats any status but 200 as an error.
func (e *Endpoint) GetAcceptOK(ctx context.Context, path, accept string, keepBody bool) (Response, error) {
	resp, err := e.GetAccept(ctx, path, accept, keepBody)
	if err != nil {
		return resp, err
	}
	if resp.Status != http.StatusOK {
		return resp, fmt.Errorf("GET %s%s: %d %s", e.BaseURL, path, resp.Status, truncate(resp.Body, 300))
	}
	return resp, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// objectRef names one object of a metrics list.
type objectRef struct {
	Namespace string
	Name      string
	Timestamp string
}

// decodeList reads the names (and timestamps) of a NodeMetricsList or
// PodMetricsList; a single object decodes to one item.
func decodeList(body []byte) ([]objectRef, error) {
	var doc struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Timestamp string `json:"timestamp"`
		} `json:"items"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding metrics response: %w", err)
	}
	if doc.Kind == "NodeMetrics" || doc.Kind == "PodMetrics" {
		return []objectRef{{doc.Metadata.Namespace, doc.Metadata.Name, doc.Timestamp}}, nil
	}
	if doc.Kind == "" {
		return nil, errors.New("metrics response has no kind")
	}
	out := make([]objectRef, 0, len(doc.Items))
	for _, item := range doc.Items {
		out = append(out, objectRef{item.Metadata.Namespace, item.Metadata.Name, item.Timestamp})
	}
	return out, nil
}
