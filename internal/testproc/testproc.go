// Package testproc runs a test binary's own helper processes, for tests
// about processes dying: TestMain hands its helpers to Main, and a test
// starts one with Start, reads what it prints and kills it.
package testproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
)

// Helper runs in a helper process with the arguments Start was given; its
// result is the process's exit code. It says "READY ..." on standard
// output once it is set up.
type Helper func(args []string) int

const (
	envName = "DIVIDERE_HELPER"
	envArgs = "DIVIDERE_HELPER_ARGS"
)

// Main is TestMain's body: in a helper process it runs the named helper
// and exits; otherwise it runs the tests and checks that none leaked a
// goroutine.
func Main(m *testing.M, helpers map[string]Helper) {
	if name := os.Getenv(envName); name != "" {
		h, ok := helpers[name]
		if !ok {
			os.Stdout.WriteString("ERR unknown helper " + name + "\n")
			os.Exit(2)
		}
		os.Exit(h(strings.Fields(os.Getenv(envArgs))))
	}
	testutil.VerifyNoLeaks(m)
}

// Proc is a running helper process.
type Proc struct {
	cmd    *exec.Cmd
	Fields []string    // the words of its READY line after READY
	Lines  chan string // what it prints after READY
	once   sync.Once
	stderr stderrCounter
}

// stderrCounter passes a helper's standard error on to the test's and
// counts its bytes, for tests of how much a flood makes a process log.
type stderrCounter struct{ n atomic.Int64 }

func (c *stderrCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return os.Stderr.Write(p)
}

// StderrBytes is how many bytes the process has written to its standard
// error so far.
func (p *Proc) StderrBytes() int64 { return p.stderr.n.Load() }

// Start runs helper name in a new process of this test binary and waits
// for its READY line; the process is killed when the test ends.
func Start(t *testing.T, name string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envName+"="+name, envArgs+"="+strings.Join(args, " "))
	p := &Proc{cmd: cmd, Lines: make(chan string, 100)}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.Lines <- sc.Text():
			default: // nobody reads: drop rather than block the helper
			}
		}
		close(p.Lines)
	}()
	l := p.Expect(t, "READY", 15*time.Second)
	p.Fields = strings.Fields(l)[1:]
	return p
}

// Expect waits up to d for a line starting with prefix and returns it.
func (p *Proc) Expect(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.Lines:
			if !ok {
				t.Fatalf("helper exited before saying %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
			if strings.HasPrefix(l, "ERR") {
				t.Fatalf("helper: %s", l)
			}
		case <-timeout:
			t.Fatalf("helper did not say %q within %v", prefix, d)
		}
	}
}

// RSS returns the process's resident memory in bytes (VmRSS in
// /proc/PID/status), for tests of what input can make a process keep.
func (p *Proc) RSS(t *testing.T) int64 {
	t.Helper()
	n, err := RSSOf(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// RSSOf returns the resident memory of process pid in bytes.
func RSSOf(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and reaps the process; it may be called again.
func (p *Proc) Kill() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	})
}
