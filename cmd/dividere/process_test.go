package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
)

// The real binary, built once for the tests that run it as a process.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func dividereBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "dividere-cli-test"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "dividere")
		// Built as a release is (make release): CGO_ENABLED=0, static.
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			binErr = &buildError{err, string(out)}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// proc is the dividere binary running as a process.
type proc struct {
	cmd      *exec.Cmd
	out, err *syncBuffer
	done     chan struct{}
	code     int
}

// start runs the binary with args until the test ends (or it exits).
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(dividereBinary(t), args...), out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit and returns its code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("%v still running after %v; stderr %q", p.cmd.Args, d, p.err.String())
		return -1
	}
}

// runBin runs the binary to its end.
func runBin(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	p := start(t, args...)
	code = p.wait(t, 30*time.Second)
	return code, p.out.String(), p.err.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port := testutil.Port(t)
	return "127.0.0.1:" + itoa(port)
}

// Server commands given an explicit host used to connect instead of
// binding, print "requests on , notices on" and serve nothing. They bind
// now, and a ShutdownEvent from anyone stops none of them.
func TestServerCommandsListen(t *testing.T) {
	req, notices := freeAddr(t), freeAddr(t)
	reg := start(t, "registry", "-requests", "tcp://"+req, "-notices", "tcp://"+notices, "-watch", "tcp://127.0.0.1:0")
	waitOutput(t, reg.out, "name service: requests on tcp://"+req+", notices on tcp://"+notices)
	for range 2 {
		if code, o, e := runBin(t, "req", "-timeout", "5s", "tcp://"+req, "ShutdownEvent", "{}"); code != exitFailure || o != "" ||
			e != "error: PERMISSION_DENIED: a ShutdownEvent from a peer stops nothing\n" {
			t.Fatalf("ShutdownEvent: exit %d %q %q", code, o, e)
		}
	}
	if code, _, e := runBin(t, "lookup", "-registry", req, "nobody"); code != exitFailure || !strings.Contains(e, "service not found") {
		t.Fatalf("lookup after ShutdownEvents: exit %d %q", code, e)
	}

	front, back := freeAddr(t), freeAddr(t)
	b := start(t, "broker", "tcp://"+front, "tcp://"+back)
	waitOutput(t, b.out, "broker: clients on tcp://"+front+", workers on tcp://"+back)
	pf, pb := freeAddr(t), freeAddr(t)
	p := start(t, "proxy", "tcp://"+pf, "tcp://"+pb)
	waitOutput(t, p.out, "proxy: front end [tcp://"+pf+"], back end [tcp://"+pb+"]")
}

// Usage errors exit 2 with a line that says why, everywhere.
func TestUsageErrorsExitTwo(t *testing.T) {
	taken := freeAddr(t)
	hold := start(t, "registry", "-requests", "tcp://"+taken, "-notices", "tcp://"+freeAddr(t), "-watch", "tcp://127.0.0.1:0")
	waitOutput(t, hold.out, "name service: requests on")
	keys := filepath.Join(t.TempDir(), "server.key")
	if code, _, e := runBin(t, "keygen", "-o", keys); code != exitOK {
		t.Fatalf("keygen: %d %s", code, e)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"registry", "-requests", "bogus"}, "bad endpoint"},
		{[]string{"registry", "-requests", ">tcp://" + freeAddr(t)}, "a server must listen"},
		{[]string{"registry", "-requests", "tcp://" + taken, "-notices", "tcp://" + freeAddr(t), "-watch", "tcp://127.0.0.1:0"}, "address already in use"},
		{[]string{"registry", "-curve-server", keys, "-registrars", keys}, "-curve-allow"},
		{[]string{"registry", "-registrars", keys}, "-curve-server"},
		{[]string{"broker", ">tcp://" + freeAddr(t), "tcp://" + freeAddr(t)}, "a server must listen"},
		{[]string{"broker", "-heartbeat", "0s", "tcp://" + freeAddr(t), "tcp://" + freeAddr(t)}, "-heartbeat"},
		{[]string{"proxy", "tcp://" + freeAddr(t), ">tcp://" + freeAddr(t)}, "a server must listen"},
		{[]string{"sub", "-count", "-1", "tcp://" + freeAddr(t)}, "-count -1"},
		{[]string{"req", "-timeout", "0s", "tcp://" + freeAddr(t), "dividere.Text", "{}"}, "-timeout"},
		{[]string{"call", "-timeout", "-1s", "x", "dividere.Text", "{}"}, "-timeout"},
		{[]string{"pub", "-timeout", "0s", "tcp://" + freeAddr(t), "dividere.Text", "{}"}, "-timeout"},
	} {
		code, _, e := runBin(t, tc.args...)
		if code != exitUsage || !strings.Contains(e, tc.want) || strings.Count(strings.TrimSpace(e), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, e, tc.want)
		}
	}
}

// An interrupted pub says so; it used to say "within 30s".
func TestPubInterrupted(t *testing.T) {
	p := start(t, "pub", "-timeout", "30s", "tcp://"+freeAddr(t), "dividere.Text", `{"text": "x"}`)
	// Wait until it listens (a raw connect succeeds), then interrupt it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := p.cmd.Args[len(p.cmd.Args)-3]
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "tcp://"), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatal("pub never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(t, 10*time.Second)
	e := p.err.String()
	if code != exitFailure || !strings.Contains(e, "interrupted") || strings.Contains(e, "within") {
		t.Fatalf("interrupted pub: exit %d, stderr %q", code, e)
	}
}
