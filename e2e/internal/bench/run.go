// Package bench measures one metrics-server process running against the e2e
// sandbox: memory and CPU from /proc, scrape cycles from the server's own
// Prometheus metrics and the timestamps it serves, and the latency of the
// metrics API both directly and through the aggregator. Nothing here depends
// on the implementation under test beyond metrics-server's flags, API and
// self-metrics, so the Go original can be measured the same way.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"metrics-server-rs/e2e/internal/runstate"
)

// Options configure one run.
type Options struct {
	Sandbox          Sandbox
	Nodes            int
	PodsPerNode      int
	ContainersPerPod int
	Resolution       time.Duration
	// Cycles is how many scrape cycles the quiet phase measures; the query
	// phase then spreads its samples over at least as long again.
	Cycles int
	// Samples is the number of timed requests per query and path.
	Samples int
	Binary  string
	// BinaryArgs come after the manifest's args and --metric-resolution.
	BinaryArgs []string
	// Keep leaves a sandbox bench started running.
	Keep bool
	// Log receives progress lines and the sandbox commands' output.
	Log io.Writer
}

const (
	instanceName = "bench"
	metricsAPI   = "/apis/metrics.k8s.io/v1beta1"
	// startTimeout bounds `metrics-server start` (ready and APIService Available).
	startTimeout = 10 * time.Minute
	// probeInterval is how often the served timestamp of one node is polled
	// to see a cycle's results land in the store.
	probeInterval  = 250 * time.Millisecond
	rssInterval    = 500 * time.Millisecond
	firstPollEvery = 100 * time.Millisecond
)

func (o Options) validate() error {
	var errs []error
	if o.Nodes < 1 || o.PodsPerNode < 0 || o.ContainersPerPod < 1 {
		errs = append(errs, errors.New("--nodes must be ≥ 1, --pods-per-node ≥ 0 and --containers-per-pod ≥ 1"))
	}
	if o.Resolution < time.Second {
		errs = append(errs, errors.New("--resolution must be at least 1s"))
	}
	if o.Cycles < 1 || o.Samples < 1 {
		errs = append(errs, errors.New("--cycles and --samples must be ≥ 1"))
	}
	return errors.Join(errs...)
}

func (o Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "bench: "+format+"\n", args...)
}

// Run measures one metrics-server binary against a sandbox of the requested
// size, which it starts when none runs (and then stops, unless Keep).
func Run(ctx context.Context, o Options) (result *Result, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	sb := o.Sandbox
	running, release, err := sb.UpForRun(ctx, o.Nodes, o.PodsPerNode, o.ContainersPerPod, o.Keep, o.logf)
	defer release(&err)
	if err != nil {
		return nil, err
	}
	cleanup := context.WithoutCancel(ctx)
	env, err := sb.Env()
	if err != nil {
		return nil, err
	}
	directTLS, err := AdminTLS(env["ADMIN_CERT"], env["ADMIN_KEY"], "")
	if err != nil {
		return nil, err
	}
	aggregatorTLS, err := AdminTLS(env["ADMIN_CERT"], env["ADMIN_KEY"], env["CLUSTER_CA"])
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, aggregator: NewEndpoint("aggregator", env["APISERVER_URL"], aggregatorTLS)}
	r.result = &Result{
		Binary: o.Binary, Args: r.binaryArgs(), Nodes: o.Nodes, PodsPerNode: o.PodsPerNode,
		ContainersPerPod: o.ContainersPerPod, ResolutionSeconds: o.Resolution.Seconds(), Cycles: o.Cycles,
		SandboxReused: running, Machine: readMachine(),
	}

	// A previous run's instance (killed bench) would disturb the figures.
	if err := sb.StopMetricsServer(ctx, instanceName); err != nil {
		return nil, err
	}
	previousPID := sb.RecordedPID(instanceName)
	start := startAsync(func() error {
		return sb.StartMetricsServer(ctx, instanceName, o.Binary, startTimeout, r.binaryArgs())
	})
	defer func() {
		if stopErr := sb.StopMetricsServer(cleanup, instanceName); stopErr != nil && err == nil {
			err = fmt.Errorf("stopping metrics-server: %w", stopErr)
		}
	}()
	instance, err := sb.WaitInstance(ctx, instanceName, previousPID, start.failed())
	if err != nil {
		return nil, err
	}
	r.pid = instance.PID
	r.direct = NewEndpoint("direct", "https://"+instance.Address, directTLS)
	if r.execAt, err = runstate.ProcessStartTime(r.pid); err != nil {
		return nil, err
	}
	sampler := startRSSSampler(r.pid)
	defer sampler.stop()

	if err := r.waitFirstMetrics(ctx, start); err != nil {
		return nil, err
	}
	if err := r.quietPhase(ctx); err != nil {
		return nil, err
	}
	if err := r.queryPhase(ctx); err != nil {
		return nil, err
	}
	final, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return nil, fmt.Errorf("metrics-server (pid %d) is gone: %w", r.pid, err)
	}
	r.result.RSS = sampler.stop().figures(r.quietWindow, r.queryWindow, final.HWMBytes)
	return r.result, nil
}

// runner holds one run's endpoints and partial results.
type runner struct {
	o          Options
	direct     *Endpoint
	aggregator *Endpoint
	pid        int
	execAt     time.Time
	// probeNode is the node whose served timestamp marks cycle ends.
	probeNode   string
	probeCalls  int
	quietWindow [2]time.Time
	queryWindow [2]time.Time
	result      *Result
}

func (r *runner) binaryArgs() []string {
	return append([]string{"--metric-resolution=" + r.o.Resolution.String()}, r.o.BinaryArgs...)
}

// asyncStart is `metrics-server start` running in the background.
type asyncStart struct {
	done chan struct{}
	err  error
	// at is when it returned.
	at time.Time
}

func startAsync(f func() error) *asyncStart {
	s := &asyncStart{done: make(chan struct{})}
	go func() {
		s.err = f()
		s.at = time.Now()
		close(s.done)
	}()
	return s
}

// failed yields the start error if it ends badly; it never yields on success.
func (s *asyncStart) failed() <-chan error {
	out := make(chan error, 1)
	go func() {
		<-s.done
		if s.err != nil {
			out <- s.err
		}
	}()
	return out
}

// waitFirstMetrics times the first non-empty node list and the first
// complete one, from exec; then waits for `start` to see the APIService Available.
func (r *runner) waitFirstMetrics(ctx context.Context, start *asyncStart) error {
	deadline := time.Now().Add(startTimeout)
	failed := start.failed()
	var lastErr error
	poll := firstPollEvery
	for {
		refs, err := r.list(ctx, r.direct, metricsAPI+"/nodes")
		now := time.Now()
		switch {
		case err != nil:
			lastErr = err
		case len(refs) > 0 && r.probeNode == "":
			r.probeNode = refs[0].Name
			r.result.TimeToFirstMetricsSeconds = now.Sub(r.execAt).Seconds()
			r.result.FirstNodesServed = len(refs)
			r.o.logf("first metrics %.2fs after exec (%d nodes)", r.result.TimeToFirstMetricsSeconds, len(refs))
			// Full lists are larger; poll them less often.
			poll = rssInterval
			deadline = now.Add(4 * r.o.Resolution)
			fallthrough
		case len(refs) > 0:
			if len(refs) >= r.o.Nodes {
				all := now.Sub(r.execAt).Seconds()
				r.result.TimeToAllNodesSeconds = &all
				r.o.logf("all %d nodes served %.2fs after exec", len(refs), all)
			}
		}
		if r.result.TimeToAllNodesSeconds != nil {
			break
		}
		if now.After(deadline) {
			if r.probeNode != "" {
				r.o.logf("not every node served within 4 resolutions of the first metrics; going on")
				break
			}
			return fmt.Errorf("no node metrics within %v of exec (last: %v)", startTimeout, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return fmt.Errorf("metrics-server start: %w", err)
		case <-time.After(poll):
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-start.done:
	}
	if start.err != nil {
		return fmt.Errorf("metrics-server start: %w", start.err)
	}
	r.result.TimeToAvailableSeconds = start.at.Sub(r.execAt).Seconds()
	return nil
}

func (r *runner) list(ctx context.Context, e *Endpoint, path string) ([]objectRef, error) {
	resp, err := e.GetOK(ctx, path, true)
	if err != nil {
		return nil, err
	}
	return decodeList(resp.Body)
}

// cycleMark is what is read right after a cycle's results land.
type cycleMark struct {
	at    time.Time
	usage runstate.ProcessUsage
	self  SelfMetrics
	// startedAt estimates when that cycle started (zero when unknown).
	startedAt time.Time
}

// probeTimestamp is the probe node's served timestamp ("" when not served).
func (r *runner) probeTimestamp(ctx context.Context) string {
	r.probeCalls++
	refs, err := r.list(ctx, r.direct, metricsAPI+"/nodes/"+url.PathEscape(r.probeNode))
	if err != nil || len(refs) != 1 {
		return ""
	}
	return refs[0].Timestamp
}

// sleepUntil waits for t or ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	return ctx.Err()
}

// nextCycle waits until the probe node's timestamp moves past lastTS, then
// reads /metrics (until the tick histogram has counted the cycle) and /proc.
// Polling starts when the next cycle can have started at the earliest (one
// resolution after the previous one started), which keeps the probe's own
// load to a few requests per cycle.
func (r *runner) nextCycle(ctx context.Context, prev *cycleMark, lastTS string) (cycleMark, string, error) {
	notBefore := time.Now()
	if prev != nil {
		notBefore = prev.at.Add(r.o.Resolution / 2)
		if !prev.startedAt.IsZero() {
			notBefore = prev.startedAt.Add(r.o.Resolution)
		}
	}
	if err := sleepUntil(ctx, notBefore); err != nil {
		return cycleMark{}, "", err
	}
	limit := 3*r.o.Resolution + 30*time.Second
	deadline := time.Now().Add(limit)
	for {
		ts := r.probeTimestamp(ctx)
		if ts != "" && ts != lastTS {
			mark, err := r.mark(ctx, prev)
			return mark, ts, err
		}
		if time.Now().After(deadline) {
			return cycleMark{}, "", fmt.Errorf("node %s's served timestamp did not change for %v: scrape cycles stalled?", r.probeNode, limit)
		}
		if err := sleepUntil(ctx, time.Now().Add(probeInterval)); err != nil {
			return cycleMark{}, "", err
		}
	}
}

// readSelfMetrics fetches and parses /metrics.
func (r *runner) readSelfMetrics(ctx context.Context) (SelfMetrics, error) {
	resp, err := r.direct.GetOK(ctx, "/metrics", true)
	if err != nil {
		return SelfMetrics{}, err
	}
	return ParseSelfMetrics(string(resp.Body))
}

func (r *runner) mark(ctx context.Context, prev *cycleMark) (cycleMark, error) {
	at := time.Now()
	var self SelfMetrics
	// The store is updated just before the cycle is observed: give the
	// histogram a moment to count it.
	for attempt := 0; ; attempt++ {
		var err error
		if self, err = r.readSelfMetrics(ctx); err != nil {
			return cycleMark{}, err
		}
		if prev == nil || !self.HasTick || self.TickCount > prev.self.TickCount || attempt >= 40 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	usage, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return cycleMark{}, fmt.Errorf("metrics-server (pid %d) is gone: %w", r.pid, err)
	}
	mark := cycleMark{at: at, usage: usage, self: self}
	if prev != nil && prev.self.HasTick && self.TickCount == prev.self.TickCount+1 {
		mark.startedAt = at.Add(-time.Duration((self.TickSum - prev.self.TickSum) * float64(time.Second)))
	}
	return mark, nil
}

// measureProbeCost runs right after a cycle ended (the server is idle until
// the next one) and measures the CPU one probe GET and one /metrics read
// cost, so their share of the per-cycle CPU figure is known. It gives up
// (zero figures) when a cycle ran during the measurement.
func (r *runner) measureProbeCost(ctx context.Context, last cycleMark) (probe, metrics float64, err error) {
	const probes, metricsReads = 40, 5
	before, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return 0, 0, err
	}
	for range probes {
		r.probeTimestamp(ctx)
	}
	middle, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return 0, 0, err
	}
	var self SelfMetrics
	for range metricsReads {
		if self, err = r.readSelfMetrics(ctx); err != nil {
			return 0, 0, err
		}
	}
	after, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return 0, 0, err
	}
	if self.HasTick && self.TickCount != last.self.TickCount {
		return 0, 0, nil
	}
	return runstate.CPUSeconds(middle.CPUTicks-before.CPUTicks) / probes, runstate.CPUSeconds(after.CPUTicks-middle.CPUTicks) / metricsReads, nil
}

// quietPhase measures Cycles scrape cycles with no load but the probe.
func (r *runner) quietPhase(ctx context.Context) error {
	o := r.o
	o.logf("measuring %d scrape cycles (no query load)", o.Cycles)
	r.result.Machine.LoadBefore = readLoadAverage()
	ts := r.probeTimestamp(ctx)
	// The cycle in progress started before the measurement: skip to its end.
	base, ts, err := r.nextCycle(ctx, nil, ts)
	if err != nil {
		return err
	}
	r.probeCalls = 0
	r.quietWindow[0] = base.at
	prev := base
	res := r.result
	res.CycleDuration.Source = "none: no " + tickDurationMetric
	if base.self.HasTick {
		res.CycleDuration.Source = tickDurationMetric + " (_sum/_count difference per cycle)"
	}
	cycles := 0
	for cycles < o.Cycles {
		next, nextTS, err := r.nextCycle(ctx, &prev, ts)
		if err != nil {
			return err
		}
		ts = nextTS
		n := 1
		if prev.self.HasTick && next.self.HasTick {
			n = int(next.self.TickCount - prev.self.TickCount)
		}
		if n >= 1 && prev.self.HasTick {
			// Several cycles between two marks (the probe node missed one) share their figures.
			per := (next.self.TickSum - prev.self.TickSum) / float64(n)
			for range n {
				res.CycleDuration.Seconds = append(res.CycleDuration.Seconds, per)
			}
		}
		n = max(n, 1)
		cpu := runstate.CPUSeconds(next.usage.CPUTicks-prev.usage.CPUTicks) / float64(n)
		for range n {
			res.CPU.PerCycleSeconds = append(res.CPU.PerCycleSeconds, cpu)
			if next.self.HasKubelet {
				res.NodesScrapedOK.PerCycle = append(res.NodesScrapedOK.PerCycle, (next.self.KubeletOK-prev.self.KubeletOK)/float64(n))
				res.NodesScrapedOK.FailedPerCycle = append(res.NodesScrapedOK.FailedPerCycle, (next.self.KubeletFailed-prev.self.KubeletFailed)/float64(n))
			}
		}
		res.StoreUpdateInterval.Seconds = append(res.StoreUpdateInterval.Seconds, next.at.Sub(prev.at).Seconds())
		cycles += n
		o.logf("cycle %d/%d: %.3f CPU-s, RSS %.1f MiB", min(cycles, o.Cycles), o.Cycles, cpu, float64(next.usage.RSSBytes)/(1<<20))
		prev = next
	}
	r.quietWindow[1] = prev.at
	res.ProbeRequests = r.probeCalls
	probeCost, metricsCost, err := r.measureProbeCost(ctx, prev)
	if err != nil {
		return err
	}
	res.CPU.ProbeSecondsPerCycle = (float64(res.ProbeRequests)*probeCost + float64(len(res.StoreUpdateInterval.Seconds))*metricsCost) / float64(cycles)
	res.CPU.ProbeGetSeconds, res.CPU.MetricsReadSeconds = probeCost, metricsCost
	res.CPU.SecondsPerCycle = runstate.CPUSeconds(prev.usage.CPUTicks-base.usage.CPUTicks) / float64(cycles)
	res.CPU.MeasuredCycles = cycles
	res.Machine.LoadAfterCycles = readLoadAverage()
	res.CycleDuration.finish(o.Resolution)
	res.StoreUpdateInterval.Distribution = Summarize(res.StoreUpdateInterval.Seconds)
	res.NodesScrapedOK.finish(o.Nodes)
	return nil
}

// query is one kind of request timed in the query phase; accept is JSON unless set.
type query struct {
	name, path, accept string
}

// protobufAccept is what the HPA controller and kubectl top send.
const protobufAccept = "application/vnd.kubernetes.protobuf, */*"

// queryPhase times Samples sequential requests of each query on both
// endpoints, round-robin, spread over at least Cycles resolutions.
func (r *runner) queryPhase(ctx context.Context) error {
	o := r.o
	pods, err := r.list(ctx, r.direct, metricsAPI+"/pods")
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return errors.New("no pod metrics served")
	}
	// Sorted lists start with a filler pod's namespace; any served pod will do.
	ns, pod := pods[0].Namespace, pods[0].Name
	queries := []query{
		{"all pods", metricsAPI + "/pods", ""},
		{"all pods (protobuf)", metricsAPI + "/pods", protobufAccept},
		{"pods of namespace " + ns, metricsAPI + "/namespaces/" + url.PathEscape(ns) + "/pods", ""},
		{"one pod", metricsAPI + "/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(pod), ""},
		{"all nodes", metricsAPI + "/nodes", ""},
	}
	endpoints := []*Endpoint{r.direct, r.aggregator}
	figures := make([]*LatencyFigures, 0, len(queries)*len(endpoints))
	// One unmeasured request each: connections, aggregator discovery, and the item counts.
	// A failure is counted with the query's errors rather than ending the run: at
	// thousands of nodes on a saturated machine an implementation may drop the pod
	// picked above for a cycle, and that is a figure too.
	for _, q := range queries {
		for _, e := range endpoints {
			f := &LatencyFigures{Query: q.name, Path: e.Name, URLPath: q.path}
			figures = append(figures, f)
			failed := func(err error) {
				f.Errors++
				f.LastError = fmt.Sprintf("warm-up: %v", err)
			}
			if q.accept != "" {
				// Not JSON: the item count is the JSON list's (the query before it).
				f.Items = figures[len(figures)-1-len(endpoints)].Items
				resp, err := e.GetAcceptOK(ctx, q.path, q.accept, false)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					failed(err)
					continue
				}
				f.Bytes, f.Gzip = resp.Bytes, resp.Gzip
				continue
			}
			resp, err := e.GetOK(ctx, q.path, true)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed(err)
				continue
			}
			refs, err := decodeList(resp.Body)
			if err != nil {
				failed(err)
				continue
			}
			f.Items, f.Bytes, f.Gzip = len(refs), resp.Bytes, resp.Gzip
		}
	}
	span := time.Duration(o.Cycles) * o.Resolution
	o.logf("timing %d requests of each of %d queries on both paths, spread over ≥ %v", o.Samples, len(queries), span)
	before, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return err
	}
	begin := time.Now()
	r.queryWindow[0] = begin
	for i := range o.Samples {
		if wait := time.Until(begin.Add(span * time.Duration(i) / time.Duration(o.Samples))); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		k := 0
		for _, q := range queries {
			for _, e := range endpoints {
				f := figures[k]
				k++
				accept := q.accept
				if accept == "" {
					accept = "application/json"
				}
				resp, err := e.GetAcceptOK(ctx, q.path, accept, false)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					f.Errors++
					f.LastError = err.Error()
					continue
				}
				f.Seconds = append(f.Seconds, resp.Elapsed.Seconds())
			}
		}
	}
	after, err := runstate.ReadProcessUsage(r.pid)
	if err != nil {
		return fmt.Errorf("metrics-server (pid %d) is gone: %w", r.pid, err)
	}
	r.queryWindow[1] = time.Now()
	res := r.result
	res.QueryPhase = QueryPhase{
		Seconds:    r.queryWindow[1].Sub(begin).Seconds(),
		CPUSeconds: runstate.CPUSeconds(after.CPUTicks - before.CPUTicks),
		Requests:   o.Samples * len(figures),
	}
	res.Machine.LoadAfterQueries = readLoadAverage()
	for _, f := range figures {
		f.Distribution = Summarize(f.Seconds)
		res.Latency = append(res.Latency, *f)
	}
	res.PodsServed = figures[0].Items
	res.NodesServed = figures[len(figures)-1].Items
	return nil
}

// rssSampler reads VmRSS every rssInterval until stopped.
type rssSampler struct {
	mu      sync.Mutex
	samples []rssSample
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type rssSample struct {
	at    time.Time
	bytes uint64
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(rssInterval)
		defer ticker.Stop()
		for {
			if u, err := runstate.ReadProcessUsage(pid); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, rssSample{time.Now(), u.RSSBytes})
				s.mu.Unlock()
			}
			select {
			case <-s.quit:
				return
			case <-ticker.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() *rssSampler {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	return s
}

// figures: the median over the quiet window is the steady RSS.
func (s *rssSampler) figures(quiet, queries [2]time.Time, hwm uint64) RSSFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	var inQuiet, inQueries []float64
	for _, sample := range s.samples {
		v := float64(sample.bytes)
		switch {
		case !sample.at.Before(quiet[0]) && !sample.at.After(quiet[1]):
			inQuiet = append(inQuiet, v)
		case !sample.at.Before(queries[0]) && !sample.at.After(queries[1]):
			inQueries = append(inQueries, v)
		}
	}
	q, l := Summarize(inQuiet), Summarize(inQueries)
	return RSSFigures{
		SteadyBytes: uint64(q.P50), QuietMaxBytes: uint64(q.Max), QueryMaxBytes: uint64(l.Max),
		PeakBytes: hwm, Samples: len(s.samples),
	}
}
