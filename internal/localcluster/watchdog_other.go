//go:build unix && !linux

package localcluster

// startWatchdog does nothing outside Linux, where finding envtest's processes would need more
// than /proc: only Linux runs the suites in CI.
func (c *Cluster) startWatchdog() error { return nil }
