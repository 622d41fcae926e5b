package runstate

import (
	"os"
	"testing"
	"time"
)

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tmetrics-server\nVmPeak:\t  200 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t3\n"
	rss, hwm, err := parseStatusMemory(status)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 40<<20 || hwm != 50<<20 {
		t.Fatalf("rss %d hwm %d", rss, hwm)
	}
	if _, _, err := parseStatusMemory("Name:\tzombie\nState:\tZ\n"); err == nil {
		t.Fatal("a status without VmRSS was accepted")
	}
}

func TestParseStatCountsFieldsAfterTheLastParenthesis(t *testing.T) {
	// Field 2 holds spaces and a ')' as a hostile command name could.
	stat := "4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 123456 1000 500 18446744073709551615"
	f, err := parseStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if f.ppid != 1 || f.utime != 250 || f.stime != 75 || f.starttime != 123456 {
		t.Fatalf("%+v", f)
	}
	if _, err := parseStat("4242 (short) S 1 2"); err == nil {
		t.Fatal("a truncated stat line was accepted")
	}
}

func TestReadProcessUsageOfThisProcess(t *testing.T) {
	// Burn some CPU so the reading cannot be all zero.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	u, err := ReadProcessUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSSBytes == 0 || u.HWMBytes < u.RSSBytes || u.CPUTicks == 0 {
		t.Fatalf("%+v", u)
	}
	start, err := ProcessStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if age := time.Since(start); age < 0 || age > time.Hour {
		t.Fatalf("this test process started %v ago?", age)
	}
}
