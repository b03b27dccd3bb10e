package connection_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dividere-go/dividere/connection"
)

// TestMain doubles as a helper process: with DIVIDERE_HELPER set, the test
// binary runs that helper instead of the tests, so fault tests can kill a
// real peer process.
func TestMain(m *testing.M) {
	if h := os.Getenv("DIVIDERE_HELPER"); h != "" {
		os.Exit(runHelper(h, os.Getenv("DIVIDERE_HELPER_ARG")))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(name, arg string) int {
	switch name {
	case "echo-response":
		rep, err := connection.NewResponse(arg)
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("READY", rep.Endpoint())
		ctx := context.Background()
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return 1
			}
			if err := rep.Send(ctx, append([]byte("echo:"), m.Payload()...)); err != nil {
				return 1
			}
		}
	}
	fmt.Println("ERR unknown helper", name)
	return 2
}

// helper is a peer process started from the test binary.
type helper struct {
	cmd  *exec.Cmd
	line string // its READY line
}

func startHelper(t *testing.T, name, arg string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DIVIDERE_HELPER="+name, "DIVIDERE_HELPER_ARG="+arg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd}
	t.Cleanup(h.kill)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
	}()
	select {
	case l := <-lines:
		if !strings.HasPrefix(l, "READY") {
			t.Fatalf("helper %s: %q", name, l)
		}
		h.line = l
	case <-time.After(10 * time.Second):
		t.Fatalf("helper %s did not start", name)
	}
	return h
}

// kill sends SIGKILL and reaps the process.
func (h *helper) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.cmd.Wait()
}

// tctx is a context bounded by d and by the test's end.
func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// ok checks a constructor's error: ok(connection.NewDealer(ep))(t).
func ok[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// closeAll closes sockets at the end of the test.
func closeAll(t *testing.T, cs ...interface{ Close() error }) {
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
}
