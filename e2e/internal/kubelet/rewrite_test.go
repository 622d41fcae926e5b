package kubelet

import (
	"strings"
	"testing"
	"time"
)

func TestStaleDuplicatesComeBeforeTheRealSample(t *testing.T) {
	in := "# TYPE node_cpu_usage_seconds_total counter\n" +
		"node_cpu_usage_seconds_total 12.5 1000\n" +
		`container_memory_working_set_bytes{container="c",namespace="ns",pod="p"} 4096 1000` + "\n" +
		`container_start_time_seconds{container="c",namespace="ns",pod="p"} 1.7e9` + "\n"
	want := "# TYPE node_cpu_usage_seconds_total counter\n" +
		"node_cpu_usage_seconds_total 1 1000\n" +
		"node_cpu_usage_seconds_total 12.5 1000\n" +
		`container_memory_working_set_bytes{container="c",namespace="ns",pod="p"} 1 1000` + "\n" +
		`container_memory_working_set_bytes{container="c",namespace="ns",pod="p"} 4096 1000` + "\n" +
		`container_start_time_seconds{container="c",namespace="ns",pod="p"} 1.7e9` + "\n"
	if got := string(withStaleDuplicates([]byte(in))); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestInventedPodHasDistinctContainers(t *testing.T) {
	out := string(withInventedPod([]byte("x 1\n"), 3, time.UnixMilli(5000)))
	if n := strings.Count(out, `pod="wide"`); n != 6 {
		t.Errorf("%d invented samples, want 6:\n%s", n, out)
	}
	if !strings.Contains(out, `container_memory_working_set_bytes{container="c2",namespace="hostile",pod="wide"} 1 5000`) {
		t.Errorf("missing the last container:\n%s", out)
	}
}
