package localcluster

import "syscall"

// sysProcAttr puts a child in its own process group, so stop reaches anything it forks, and has
// the kernel kill it when the process that started it dies, so a crashed or timed-out test leaves
// no kube-scheduler or kwok running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
