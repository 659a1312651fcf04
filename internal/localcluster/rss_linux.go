package localcluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// ProcessTreeRSS returns the resident memory, in bytes, of every process this process started,
// directly or not (etcd, kube-apiserver, the Karmada and OCM controllers ...), measured now. It
// is for logging what a harness costs; 0 where /proc cannot be read.
func ProcessTreeRSS() int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var total int64
	queue := append([]int(nil), children[os.Getpid()]...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = append(queue[1:], children[pid]...)
		statm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "statm"))
		if err != nil {
			continue
		}
		fields := bytes.Fields(statm) // size resident shared ... in pages
		if len(fields) < 2 {
			continue
		}
		pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
		if err == nil {
			total += pages * int64(os.Getpagesize())
		}
	}
	return total
}
