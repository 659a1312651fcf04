package localcluster

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// CrashAPIServer kills kube-apiserver with SIGKILL, as a crash or an OOM kill would, and starts
// it again on the same address with the same certificates and flags; etcd, and so every object,
// stays. Clients see their requests and watches fail until it is back. (A graceful stop would
// wait for every open watch to drain, more than envtest's 20 s with a manager connected.)
func (c *Cluster) CrashAPIServer() error {
	api := c.Env.ControlPlane.APIServer
	if c.watchdog != nil { // it guards the old process; a new one guards the new
		if err := c.watchdog.stop(childStopTimeout); err != nil {
			return fmt.Errorf("stopping the watchdog: %w", err)
		}
		_ = c.watchdogPipe.Close()
		c.watchdog, c.watchdogPipe = nil, nil
	}
	pids := childrenMatching(os.Getpid(), []string{"--cert-dir=" + api.CertDir})
	if len(pids) != 1 {
		return fmt.Errorf("found %d kube-apiserver processes with --cert-dir=%s, want 1", len(pids), api.CertDir)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing kube-apiserver: %w", err)
	}
	// envtest reaps it and then finds it exited; until then its Stop may signal a process that
	// is gone (ESRCH): ask again.
	var stopErr error
	for range 50 {
		if stopErr = api.Stop(); stopErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stopErr != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", stopErr)
	}
	began := time.Now()
	if err := api.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	c.logf("kube-apiserver crashed and restarted, serving after %s", time.Since(began).Round(time.Millisecond))
	return c.startWatchdog()
}
