package interop_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if original.dir != "" {
		os.RemoveAll(original.dir)
	}
	if code == 0 {
		if err := testutil.Leaks(); err != nil {
			fmt.Fprintln(os.Stderr, "leak check:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// python is the interpreter with Debian's python3-zmq and python3-protobuf.
const python = "/usr/bin/python3"

// pyPeer is a Python peer process.
type pyPeer struct {
	cmd      *exec.Cmd
	Endpoint string         // from its READY line ("" when it connects)
	Lines    chan string    // the rest of its standard output
	Stdin    io.WriteCloser // its standard input
	exited   chan struct{}  // closed when it has exited
	err      error          // its exit status
}

// startPython runs interop/python/<script> with args and waits for READY.
func startPython(t *testing.T, script string, args ...string) *pyPeer {
	t.Helper()
	return startPeer(t, filepath.Join("python", script), nil, args...)
}

// startPeer runs a Python script with args (and extra environment) and
// waits for its READY line.
func startPeer(t *testing.T, script string, env []string, args ...string) *pyPeer {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s missing: run `make test`, which installs python3-zmq and python3-protobuf", python)
	}
	cmd := exec.Command(python, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	// A group of its own, so that the end of the test kills what the peer
	// started too (the original's MpMsgReactor forks a process, which
	// would otherwise outlive it holding its output open).
	cmd.SysProcAttr = ownGroup()
	cmd.Stderr = &prefixWriter{t: t, prefix: filepath.Base(script) + ": "}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pyPeer{cmd: cmd, Lines: make(chan string, 1024), Stdin: in, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
				continue
			}
			p.Lines <- sc.Text()
		}
		close(p.Lines)
		if first {
			close(ready)
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		killGroup(cmd.Process)
		<-p.exited
	})
	select {
	case l, ok := <-ready:
		if !ok || !strings.HasPrefix(l, "READY") {
			t.Fatalf("%s did not start: %q", script, l)
		}
		p.Endpoint = strings.TrimSpace(strings.TrimPrefix(l, "READY"))
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not start in time", script)
	}
	return p
}

// Wait waits for the peer to exit and fails the test unless it succeeded.
func (p *pyPeer) Wait(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("python peer failed: %v", p.err)
		}
	case <-ctx.Done():
		t.Fatal("python peer did not finish in time")
	}
}

type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
