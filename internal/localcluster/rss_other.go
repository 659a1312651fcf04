//go:build !linux

package localcluster

// ProcessTreeRSS is measured on Linux only.
func ProcessTreeRSS() int64 { return 0 }
