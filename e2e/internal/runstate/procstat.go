// Memory and CPU of a process from /proc, for `sandbox status`, e2e/bench and
// e2e/soak.

package runstate

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of /proc/<pid>/stat's times. The
// kernel fixes it at 100 in its user ABI on the architectures Go runs on, and
// Go offers no sysconf to ask.
const clockTicksPerSecond = 100

// ProcessUsage is one reading of a process's memory and CPU.
type ProcessUsage struct {
	// RSSBytes is VmRSS: resident memory now.
	RSSBytes uint64
	// HWMBytes is VmHWM: the highest RSS since exec.
	HWMBytes uint64
	// CPUTicks is utime + stime in clock ticks.
	CPUTicks uint64
}

// CPUSeconds converts a tick count to seconds.
func CPUSeconds(ticks uint64) float64 { return float64(ticks) / clockTicksPerSecond }

// ReadProcessUsage reads /proc/<pid>/status and /proc/<pid>/stat.
func ReadProcessUsage(pid int) (ProcessUsage, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcessUsage{}, err
	}
	rss, hwm, err := parseStatusMemory(string(status))
	if err != nil {
		return ProcessUsage{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcessUsage{}, err
	}
	fields, err := parseStat(string(stat))
	if err != nil {
		return ProcessUsage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return ProcessUsage{RSSBytes: rss, HWMBytes: hwm, CPUTicks: fields.utime + fields.stime}, nil
}

// ParentPID is pid's parent, 0 when pid is gone or unreadable.
func ParentPID(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields, err := parseStat(string(stat))
	if err != nil {
		return 0
	}
	return int(fields.ppid)
}

// ProcessStartTime is when pid was exec'd (to the clock tick).
func ProcessStartTime(pid int) (time.Time, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	fields, err := parseStat(string(stat))
	if err != nil {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	system, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	boot, err := parseBootTime(string(system))
	if err != nil {
		return time.Time{}, fmt.Errorf("/proc/stat: %w", err)
	}
	sinceBoot := time.Duration(fields.starttime) * time.Second / clockTicksPerSecond
	return time.Unix(boot, 0).Add(sinceBoot), nil
}

// parseStatusMemory extracts VmRSS and VmHWM (reported in kB) as bytes.
func parseStatusMemory(status string) (rss, hwm uint64, err error) {
	var haveRSS, haveHWM bool
	for _, line := range strings.Split(status, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", key, line)
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			rss, haveRSS = kb*1024, true
		} else {
			hwm, haveHWM = kb*1024, true
		}
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("no VmRSS/VmHWM (is it a kernel thread or a zombie?)")
	}
	return rss, hwm, nil
}

type statFields struct {
	ppid, utime, stime, starttime uint64
}

// parseStat reads ppid (field 4), utime (14), stime (15) and starttime (22). The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(stat string) (statFields, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return statFields{}, errors.New("no command name")
	}
	rest := strings.Fields(stat[end+1:])
	// rest[0] is field 3 (state).
	const first = 3
	if len(rest) < 22-first+1 {
		return statFields{}, fmt.Errorf("only %d fields after the command name", len(rest))
	}
	var out statFields
	for _, f := range []struct {
		field int
		dst   *uint64
	}{{4, &out.ppid}, {14, &out.utime}, {15, &out.stime}, {22, &out.starttime}} {
		v, err := strconv.ParseUint(rest[f.field-first], 10, 64)
		if err != nil {
			return statFields{}, fmt.Errorf("field %d: %w", f.field, err)
		}
		*f.dst = v
	}
	return out, nil
}

func parseBootTime(stat string) (int64, error) {
	for _, line := range strings.Split(stat, "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no btime line")
}
