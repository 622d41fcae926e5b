package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"metrics-server-rs/e2e/internal/control/client"
	"metrics-server-rs/e2e/internal/controlapi"
	"metrics-server-rs/e2e/internal/runstate"
	"metrics-server-rs/e2e/internal/scenario"
)

// SoakOptions configure a soak: a metrics-server left running for Duration
// while pods come and go, its RSS sampled all along.
type SoakOptions struct {
	Sandbox          Sandbox
	Nodes            int
	PodsPerNode      int
	ContainersPerPod int
	Resolution       time.Duration
	Duration         time.Duration
	// ChurnPerSecond pods are created, and as many of the oldest churned
	// pods deleted, every second once Live of them exist.
	ChurnPerSecond int
	Live           int
	Binary         string
	BinaryArgs     []string
	Keep           bool
	Log            io.Writer
}

// SoakResult is the RSS curve and what churned.
type SoakResult struct {
	Nodes, PodsPerNode, ContainersPerPod int
	Duration                             time.Duration
	Created, Deleted, Failed             int
	// Minutes holds one point per minute: the median RSS of that minute.
	Minutes []SoakPoint
	// PeakBytes is the kernel's high-water mark at the end.
	PeakBytes uint64
}

// SoakPoint is one minute of the curve.
type SoakPoint struct {
	Minute    int
	RSSBytes  uint64
	Created   int
	Deleted   int
	LivePods  int
	SampleCnt int
}

const (
	soakInstance  = "soak"
	soakNamespace = "default"
	soakSampling  = 5 * time.Second
)

func (o SoakOptions) validate() error {
	var errs []error
	if o.Nodes < 1 || o.PodsPerNode < 0 || o.ContainersPerPod < 1 {
		errs = append(errs, errors.New("--nodes must be ≥ 1, --pods-per-node ≥ 0 and --containers-per-pod ≥ 1"))
	}
	if o.Duration < 2*time.Minute {
		errs = append(errs, errors.New("--duration must be at least 2m (the curve has a point per minute)"))
	}
	if o.ChurnPerSecond < 1 || o.Live < o.ChurnPerSecond {
		errs = append(errs, errors.New("--churn must be ≥ 1 and --live ≥ --churn"))
	}
	if o.Resolution < time.Second {
		errs = append(errs, errors.New("--resolution must be at least 1s"))
	}
	return errors.Join(errs...)
}

// Soak brings up (or reuses) a sandbox of that size, starts the binary as
// instance "soak" and churns pods for the duration, sampling RSS.
func Soak(ctx context.Context, o SoakOptions) (result *SoakResult, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "soak: "+format+"\n", args...) }
	sb := o.Sandbox
	_, release, err := sb.UpForRun(ctx, o.Nodes, o.PodsPerNode, o.ContainersPerPod, o.Keep, logf)
	defer release(&err)
	if err != nil {
		return nil, err
	}
	cleanup := context.WithoutCancel(ctx)
	env, err := sb.Env()
	if err != nil {
		return nil, err
	}
	control := client.New(env["CONTROL_URL"])

	if err := sb.StopMetricsServer(ctx, soakInstance); err != nil {
		return nil, err
	}
	args := append([]string{"--metric-resolution=" + o.Resolution.String()}, o.BinaryArgs...)
	if err := sb.StartMetricsServer(ctx, soakInstance, o.Binary, startTimeout, args); err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := sb.StopMetricsServer(cleanup, soakInstance); stopErr != nil && err == nil {
			err = fmt.Errorf("stopping metrics-server: %w", stopErr)
		}
	}()
	pid := sb.RecordedPID(soakInstance)
	if pid == 0 {
		return nil, errors.New("metrics-server started but recorded no pid")
	}
	logf("metrics-server pid %d; churning %d pods/s (%d live) for %s", pid, o.ChurnPerSecond, o.Live, o.Duration)

	result = &SoakResult{Nodes: o.Nodes, PodsPerNode: o.PodsPerNode, ContainersPerPod: o.ContainersPerPod, Duration: o.Duration}
	churn := &churner{control: control, prefix: fmt.Sprintf("soak-%d-", time.Now().Unix())}
	defer churn.deleteAll(cleanup)

	start := time.Now()
	end := start.Add(o.Duration)
	second := time.NewTicker(time.Second)
	defer second.Stop()
	sample := time.NewTicker(soakSampling)
	defer sample.Stop()
	var minute []float64
	closeMinute := func() {
		created, deleted, _, live := churn.counts()
		point := SoakPoint{Minute: len(result.Minutes) + 1, RSSBytes: uint64(Summarize(minute).P50),
			Created: created, Deleted: deleted, LivePods: live, SampleCnt: len(minute)}
		result.Minutes = append(result.Minutes, point)
		logf("minute %3d: RSS %s, %d pods created, %d deleted so far", point.Minute, mib(point.RSSBytes), created, deleted)
		minute = minute[:0]
	}
	nextMinute := start.Add(time.Minute)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return result, ctx.Err()
		case <-second.C:
			churn.step(ctx, o.ChurnPerSecond, o.Live)
		case <-sample.C:
			u, err := runstate.ReadProcessUsage(pid)
			if err != nil {
				return result, fmt.Errorf("metrics-server (pid %d) is gone: %w", pid, err)
			}
			minute = append(minute, float64(u.RSSBytes))
			if time.Now().After(nextMinute) {
				closeMinute()
				nextMinute = nextMinute.Add(time.Minute)
			}
		}
	}
	churn.wait()
	if len(minute) > 0 {
		closeMinute()
	}
	result.Created, result.Deleted, result.Failed, _ = churn.counts()
	final, err := runstate.ReadProcessUsage(pid)
	if err != nil {
		return result, fmt.Errorf("metrics-server (pid %d) is gone: %w", pid, err)
	}
	result.PeakBytes = final.HWMBytes
	return result, nil
}

// churner creates and deletes pods through the control endpoint, at most a
// second's worth in flight.
type churner struct {
	control *client.Client
	prefix  string
	next    int

	mu                       sync.Mutex
	live                     []string // oldest first
	created, deleted, failed int
	inflight                 sync.WaitGroup
}

func (c *churner) step(ctx context.Context, perSecond, live int) {
	c.inflight.Wait()
	c.mu.Lock()
	var doomed []string
	if len(c.live) >= live {
		doomed = append(doomed, c.live[:perSecond]...)
		c.live = c.live[perSecond:]
	}
	c.mu.Unlock()
	for _, name := range doomed {
		c.inflight.Add(1)
		go func() {
			defer c.inflight.Done()
			err := c.control.DeletePod(ctx, soakNamespace, name)
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				c.failed++
			} else {
				c.deleted++
			}
		}()
	}
	for range perSecond {
		name := fmt.Sprintf("%s%d", c.prefix, c.next)
		c.next++
		c.inflight.Add(1)
		go func() {
			defer c.inflight.Done()
			_, err := c.control.CreatePod(ctx, controlapi.PodRequest{
				Namespace: soakNamespace, Name: name, Labels: map[string]string{"app": "soak"},
				Containers: []scenario.Container{{Name: "app"}, {Name: "sidecar"}},
			})
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				c.failed++
				return
			}
			c.created++
			c.live = append(c.live, name)
		}()
	}
}

func (c *churner) wait() { c.inflight.Wait() }

func (c *churner) counts() (created, deleted, failed, live int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created, c.deleted, c.failed, len(c.live)
}

// deleteAll removes the pods still alive, so a reused sandbox is left as found.
func (c *churner) deleteAll(ctx context.Context) {
	c.wait()
	c.mu.Lock()
	names := append([]string(nil), c.live...)
	c.live = nil
	c.mu.Unlock()
	for _, name := range names {
		_ = c.control.DeletePod(ctx, soakNamespace, name)
	}
}

// WriteTable prints the curve and the comparison that says whether it is flat:
// the median RSS of the last five minutes against that of minutes 3–7 (the
// first two fill the history the store keeps).
func (r *SoakResult) WriteTable(w io.Writer) error {
	var b []byte
	add := func(format string, args ...any) { b = fmt.Appendf(b, format, args...) }
	add("soak: %d nodes × %d pods × %d containers, %s, %d pods created and %d deleted (%d calls failed)\n",
		r.Nodes, r.PodsPerNode, r.ContainersPerPod, r.Duration, r.Created, r.Deleted, r.Failed)
	add("%-7s %-12s %-9s %-9s %s\n", "minute", "RSS", "created", "deleted", "curve")
	var max uint64
	for _, p := range r.Minutes {
		if p.RSSBytes > max {
			max = p.RSSBytes
		}
	}
	for _, p := range r.Minutes {
		bar := 0
		if max > 0 {
			bar = int(40 * p.RSSBytes / max)
		}
		add("%-7d %-12s %-9d %-9d %s\n", p.Minute, mib(p.RSSBytes), p.Created, p.Deleted, strings.Repeat("#", bar))
	}
	early, late := r.window(3, 7), r.window(len(r.Minutes)-4, len(r.Minutes))
	if early > 0 && late > 0 {
		growth := (float64(late) - float64(early)) / float64(early) * 100
		add("RSS median minutes 3–7: %s; last five minutes: %s; change %+.1f%%; peak (VmHWM) %s\n",
			mib(early), mib(late), growth, mib(r.PeakBytes))
	}
	_, err := w.Write(b)
	return err
}

// window is the median of the per-minute RSS of minutes from..to (1-based).
func (r *SoakResult) window(from, to int) uint64 {
	var values []float64
	for _, p := range r.Minutes {
		if p.Minute >= from && p.Minute <= to {
			values = append(values, float64(p.RSSBytes))
		}
	}
	if len(values) == 0 {
		return 0
	}
	return uint64(Summarize(values).P50)
}
