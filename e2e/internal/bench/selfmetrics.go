package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// Names of the self-metrics both metrics-server implementations expose.
const (
	tickDurationMetric   = "metrics_server_manager_tick_duration_seconds"
	kubeletRequestMetric = "metrics_server_kubelet_request_total"
)

// SelfMetrics is what bench reads from the server's /metrics: cumulative,
// so figures per scrape cycle are differences between two readings.
type SelfMetrics struct {
	// TickCount and TickSum are the cycle-duration histogram's _count and _sum.
	TickCount, TickSum float64
	HasTick            bool
	// KubeletOK and KubeletFailed are the kubelet request counter by success.
	KubeletOK, KubeletFailed float64
	HasKubelet               bool
}

// ParseSelfMetrics picks the figures out of Prometheus text exposition;
// every other family is skipped without being parsed.
func ParseSelfMetrics(text string) (SelfMetrics, error) {
	var m SelfMetrics
	for lineNo, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "metrics_server_") {
			continue
		}
		name, labels, value, err := splitSample(line)
		if err != nil {
			return SelfMetrics{}, fmt.Errorf("/metrics line %d: %w", lineNo+1, err)
		}
		switch name {
		case tickDurationMetric + "_count":
			m.TickCount, m.HasTick = value, true
		case tickDurationMetric + "_sum":
			m.TickSum = value
		case kubeletRequestMetric:
			m.HasKubelet = true
			switch {
			case strings.Contains(labels, `success="true"`):
				m.KubeletOK += value
			case strings.Contains(labels, `success="false"`):
				m.KubeletFailed += value
			}
		}
	}
	return m, nil
}

// splitSample splits `name{labels} value [timestamp]`; labels are returned
// raw (without braces), which is all the callers need.
func splitSample(line string) (name, labels string, value float64, err error) {
	rest := line
	if i := strings.IndexAny(rest, "{ "); i < 0 {
		return "", "", 0, fmt.Errorf("no value in %q", line)
	} else {
		name, rest = rest[:i], rest[i:]
	}
	if strings.HasPrefix(rest, "{") {
		// Label values may hold '}' only inside quotes; scan respecting them.
		inQuotes, escaped, end := false, false, -1
		for i := 1; i < len(rest) && end < 0; i++ {
			switch c := rest[i]; {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inQuotes = !inQuotes
			case c == '}' && !inQuotes:
				end = i
			}
		}
		if end < 0 {
			return "", "", 0, fmt.Errorf("unterminated labels in %q", line)
		}
		labels, rest = rest[1:end], rest[end+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", 0, fmt.Errorf("no value in %q", line)
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", "", 0, fmt.Errorf("value of %q: %w", line, err)
	}
	return name, labels, value, nil
}
