package localcluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// startWatchdog covers what envtest does not: it starts etcd and kube-apiserver without a
// parent-death signal, so a test binary that dies without running its cleanups (a `go test`
// timeout, SIGKILL) would leave them running. The watchdog is a shell blocked reading a pipe whose
// only writer is this process: when this process dies, however it dies, the kernel closes the pipe
// and the shell stops etcd and kube-apiserver and removes the cluster's temporary folders. Stop
// ends the watchdog before it closes the pipe, so an orderly stop never triggers it.
func (c *Cluster) startWatchdog() error {
	markers := []string{}
	if api := c.Env.ControlPlane.APIServer; api != nil && api.CertDir != "" {
		markers = append(markers, "--cert-dir="+api.CertDir)
	}
	if etcd := c.Env.ControlPlane.Etcd; etcd != nil && etcd.DataDir != "" {
		markers = append(markers, "--data-dir="+etcd.DataDir)
	}
	pids := childrenMatching(os.Getpid(), markers)
	if len(pids) == 0 {
		return nil // nothing to guard, or /proc is unreadable: run without a watchdog
	}
	list := make([]string, len(pids))
	for i, pid := range pids {
		list[i] = strconv.Itoa(pid) // neither forks, so their pids are enough
	}
	p := strings.Join(list, " ")
	var dirs []string
	for _, d := range []string{c.dir, c.Env.ControlPlane.APIServer.CertDir, c.Env.ControlPlane.Etcd.DataDir,
		c.Env.WebhookInstallOptions.LocalServingCertDir} {
		if d != "" && filepath.IsAbs(d) && !strings.ContainsAny(d, "'\\") {
			dirs = append(dirs, "'"+d+"'")
		}
	}
	script := fmt.Sprintf("read _; kill -TERM %s 2>/dev/null; sleep 3; kill -KILL %s 2>/dev/null; rm -rf %s; exit 0",
		p, p, strings.Join(dirs, " "))
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating the watchdog's pipe: %w", err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // deliberately no Pdeathsig: it must outlive us
	out := c.log.prefixed("watchdog")
	cmd.Stdout, cmd.Stderr = out, out
	ch, err := startCmd("watchdog", cmd, out)
	_ = r.Close() // the shell has its own copy
	if err != nil {
		_ = w.Close()
		return err
	}
	c.watchdog, c.watchdogPipe = ch, w
	return nil
}

// childrenMatching returns the pids of the direct children of parent whose command line contains
// one of markers.
func childrenMatching(parent int, markers []string) []int {
	if len(markers) == 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); !ok || ppid != parent {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		for _, m := range markers {
			if strings.Contains(args, m) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// parentOf reads a process's parent pid from /proc/PID/stat, whose second field (the command
// name, in parentheses) may itself contain spaces and parentheses.
func parentOf(pid int) (int, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+1:])) // state, ppid, ...
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}
