//go:build linux

package chaos

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// replicaSet runs replicas of the manager binary as separate processes, and restarts one that
// exits on its own (a lost lease makes the manager exit) after a second, as a kubelet would.
type replicaSet struct {
	bin, kubeconfig string
	log             io.Writer

	mu       sync.Mutex
	replicas []*replica
	// leaderName is the replica that last said it acquired the lease, "" once it exited.
	leaderName   string
	acquisitions []time.Time
	crashes      int // exits nobody asked for
	closed       bool
}

type replica struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	asked  bool // the exit was asked for (a kill or a stop): not restarted by the supervisor
}

func newReplicaSet(bin, kubeconfig string, log io.Writer, n int) *replicaSet {
	s := &replicaSet{bin: bin, kubeconfig: kubeconfig, log: log}
	for i := range n {
		s.replicas = append(s.replicas, &replica{name: fmt.Sprintf("manager-%d", i)})
	}
	return s
}

// args are the chart's defaults but for a short lease, so that failover fits in a test.
func (s *replicaSet) args() []string {
	return []string{"--leader-elect=true", "--namespace=" + operatorNamespace,
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms",
		"--enable-webhooks=false", "--metrics-bind-address=0", "--health-probe-bind-address=0"}
}

func (s *replicaSet) startAll() error {
	for _, r := range s.replicas {
		if err := s.start(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *replicaSet) start(r *replica) error {
	s.mu.Lock()
	if r.exited != nil {
		select {
		case <-r.exited:
		default:
			s.mu.Unlock()
			return fmt.Errorf("%s is still running", r.name)
		}
	}
	s.mu.Unlock()
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	// Its own process group, killed with the test however the test ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = &lineWriter{onLine: func(l []byte) { s.line(r, l) }}
	cmd.Stderr = &lineWriter{onLine: func(l []byte) { s.line(r, l) }}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.name, err)
	}
	s.mu.Lock()
	r.cmd, r.exited, r.asked = cmd, make(chan struct{}), false
	exited := r.exited
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		s.mu.Lock()
		if s.leaderName == r.name {
			s.leaderName = ""
		}
		restart := !r.asked && !s.closed
		if restart {
			s.crashes++
		}
		s.mu.Unlock()
		close(exited)
		if restart {
			time.Sleep(time.Second)
			s.mu.Lock()
			// Nobody stopped or started it in the meantime.
			again := !s.closed && !r.asked && r.exited == exited
			s.mu.Unlock()
			if again {
				_ = s.start(r)
			}
		}
	}()
	return nil
}

// line logs a replica's output line and notes when it became the leader.
func (s *replicaSet) line(r *replica, l []byte) {
	_, _ = fmt.Fprintf(s.log, "[%s] %s\n", r.name, l)
	if bytes.Contains(bytes.ToLower(l), []byte("successfully acquired lease")) {
		s.mu.Lock()
		s.leaderName = r.name
		s.acquisitions = append(s.acquisitions, time.Now())
		s.mu.Unlock()
	}
}

// leader returns the replica holding the lease, "" while none does.
func (s *replicaSet) leader() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderName
}

// lastAcquisition is when a replica last acquired the lease.
func (s *replicaSet) lastAcquisition() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.acquisitions) == 0 {
		return time.Time{}
	}
	return s.acquisitions[len(s.acquisitions)-1]
}

func (s *replicaSet) byName(name string) *replica {
	for _, r := range s.replicas {
		if r.name == name {
			return r
		}
	}
	return nil
}

// stop sends sig to the replica's process group and waits for it to exit, killing it after
// timeout; the supervisor leaves it stopped.
func (s *replicaSet) stop(r *replica, sig syscall.Signal, timeout time.Duration) {
	s.mu.Lock()
	r.asked = true
	cmd, exited := r.cmd, r.exited
	s.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

func (s *replicaSet) stopAll() {
	s.mu.Lock()
	s.closed = true
	rs := append([]*replica(nil), s.replicas...)
	for _, r := range rs {
		r.asked = true
	}
	s.mu.Unlock()
	for _, r := range rs {
		s.mu.Lock()
		started := r.cmd != nil
		s.mu.Unlock()
		if started {
			s.stop(r, syscall.SIGTERM, 15*time.Second)
		}
	}
}

// counts returns how many times a replica acquired the lease, and exited unasked, so far.
func (s *replicaSet) counts() (acquisitions, crashes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acquisitions), s.crashes
}

// lineWriter calls onLine for every whole line written to it.
type lineWriter struct {
	mu     sync.Mutex
	buf    []byte
	onLine func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine([]byte(strings.TrimRight(string(w.buf[:i]), "\r")))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
