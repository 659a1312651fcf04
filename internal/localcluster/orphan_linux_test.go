package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "LOCALCLUSTER_TEST_HELPER"

// TestMain lets TestNothingOutlivesAKilledTest run this test binary again as a helper process
// (helperEnv set) that starts a cluster instead of running the tests.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelperCluster()
	}
	os.Exit(m.Run())
}

// runHelperCluster starts a cluster, prints the pids of all its processes and waits to be killed.
func runHelperCluster() {
	c, err := Start(context.Background(), Options{Nodes: []NodeSpec{{Name: "n1", Region: "eu-central-1"}}})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	pids := childrenMatching(os.Getpid(), []string{"--cert-dir=" + c.Env.ControlPlane.APIServer.CertDir, "--data-dir=" + c.Env.ControlPlane.Etcd.DataDir})
	for _, ch := range append(c.children, c.watchdog) {
		pids = append(pids, ch.cmd.Process.Pid)
	}
	fmt.Println("PIDS", strings.Trim(fmt.Sprint(pids), "[]"), c.dir, c.Env.ControlPlane.APIServer.CertDir, c.Env.ControlPlane.Etcd.DataDir)
	select {} // until killed
}

// TestNothingOutlivesAKilledTest kills a process that runs a cluster with SIGKILL, as a `go test`
// timeout or an impatient developer would, and checks that kube-apiserver, etcd,
// kube-controller-manager, kube-scheduler and kwok all end anyway.
func TestNothingOutlivesAKilledTest(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds the control plane and points it at it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var pids []int
	var dirs []string
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		line := scanner.Text()
		if rest, ok := strings.CutPrefix(line, "PIDS "); ok {
			fields := strings.Fields(rest)
			if len(fields) < 3 {
				t.Fatalf("bad helper output %q", line)
			}
			dirs = fields[len(fields)-3:]
			for _, f := range fields[:len(fields)-3] {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("bad helper output %q", line)
				}
				pids = append(pids, pid)
			}
			break
		}
		if strings.HasPrefix(line, "ERROR") {
			t.Fatalf("helper: %s", line)
		}
	}
	// kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok and the watchdog.
	if len(pids) != 6 {
		t.Fatalf("want the pids of 6 processes from the helper, got %v", pids)
	}
	t.Cleanup(func() {
		// Whatever the outcome, leave nothing behind.
		for _, pid := range pids {
			if running(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	})

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(20 * time.Second)
	for {
		var alive []string
		for _, pid := range pids {
			if running(pid) {
				alive = append(alive, processName(pid))
			}
		}
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running 20s after the test process was killed: %v", alive)
		}
		time.Sleep(200 * time.Millisecond) // processes give no event to wait on
	}
	// The watchdog removes the cluster's folders once it has stopped the control plane.
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is left behind: %v", d, err)
		}
	}
}

// running reports whether pid exists and is not a zombie (an orphan that init has yet to reap).
func running(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

func processName(pid int) string {
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return fmt.Sprintf("%s(%d)", strings.TrimSpace(string(comm)), pid)
}
