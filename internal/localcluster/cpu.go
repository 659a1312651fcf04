package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ChildCPU returns the CPU time (user and system) used so far by this process's children named
// name, such as the kube-apiserver envtest started, from /proc (Linux only): benchmarks read it
// before and after a load to price each request in API server CPU. Other clusters on the machine
// are not counted.
func ChildCPU(name string) (time.Duration, error) {
	// /proc/<pid>/stat counts in USER_HZ ticks, 100 per second on Linux whatever the kernel's HZ.
	const tick = 10 * time.Millisecond
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("reading /proc: %w", err)
	}
	self := strconv.Itoa(os.Getpid())
	var total time.Duration
	found := false
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or it ended
		}
		// pid (comm) state ppid ... utime stime: comm may hold spaces, so split after its ')'.
		stat := string(raw)
		open, closing := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || closing < open || stat[open+1:closing] != name {
			continue
		}
		fields := strings.Fields(stat[closing+1:])
		if len(fields) < 13 || fields[1] != self {
			continue
		}
		utime, err1 := strconv.ParseInt(fields[11], 10, 64)
		stime, err2 := strconv.ParseInt(fields[12], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("parsing %s/stat: %w", e.Name(), err)
		}
		total += time.Duration(utime+stime) * tick
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no %s child of this process in /proc", name)
	}
	return total, nil
}

// SumMetric adds up the samples of metric (a name followed by "{", or a whole name) whose lines
// in the Prometheus text exposition contain every one of labels: benchmarks read the API server's
// /metrics before and after a load.
func SumMetric(exposition []byte, metric string, labels ...string) (float64, error) {
	total := 0.0
	for line := range strings.Lines(string(exposition)) {
		if !strings.HasPrefix(line, metric) {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(line, l)
		}
		if !matches {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %q: %w", line, err)
		}
		total += v
	}
	return total, nil
}
