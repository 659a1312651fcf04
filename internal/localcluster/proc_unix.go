//go:build unix && !linux

package localcluster

import "syscall"

// sysProcAttr puts a child in its own process group, so stop reaches anything it forks. Only Linux
// can also tie the child's life to its parent's.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
