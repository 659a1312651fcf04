package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is a process the cluster started beside the control plane.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is flushed
	err  error         // what Wait returned; read after done is closed
	out  *lineWriter
}

// startChild starts a binary in its own process group, its output going to out.
func startChild(name, path string, args []string, out *lineWriter) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	return startCmd(name, cmd, out)
}

// startCmd starts a prepared command, whose SysProcAttr must set Setpgid, and reaps it when it
// exits.
func startCmd(name string, cmd *exec.Cmd, out *lineWriter) (*child, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		c.err = cmd.Wait()
		out.flush()
		close(c.done)
	}()
	return c, nil
}

// exited returns a non-nil error when the process has already exited.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited early: %w (its output is in the cluster log)", c.name, c.err)
	default:
		return nil
	}
}

// stop sends SIGTERM to the child's process group and, after timeout, SIGKILL. A process that
// already exited is not an error: the error would have been reported while it mattered.
func (c *child) stop(timeout time.Duration) error {
	pgid := c.cmd.Process.Pid // Setpgid: the group id is the child's pid
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s: %w", c.name, err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(timeout):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s: %w", c.name, err)
	}
	<-c.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", c.name, timeout)
}

// syncWriter serialises writes from the cluster's processes to one destination.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// prefixed returns a writer that writes whole lines to s, each starting with "name: ".
func (s *syncWriter) prefixed(name string) *lineWriter {
	return &lineWriter{dst: s, prefix: []byte(name + ": ")}
}

// lineWriter buffers partial lines so that lines of different processes never interleave.
type lineWriter struct {
	dst    *syncWriter
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

// Write never fails: a log that cannot be written must not stop a child on a broken pipe.
func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) == 0 {
		l.buf = nil // let a large burst's backing array go
	}
	return len(p), nil
}

// flush writes a last line that had no newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	l.dst.mu.Lock()
	defer l.dst.mu.Unlock()
	_, _ = l.dst.w.Write(append(append(make([]byte, 0, len(l.prefix)+len(line)), l.prefix...), line...))
}
