package patterns_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dividere-go/dividere/patterns"
)

// Short heartbeats keep fault tests fast: a peer is dead after 150 ms.
var fastBeat = patterns.WithHeartbeat(50*time.Millisecond, 3)

// TestMain doubles as the helper processes the fault tests kill.
func TestMain(m *testing.M) {
	if h := os.Getenv("DIVIDERE_HELPER"); h != "" {
		os.Exit(runHelper(h, strings.Split(os.Getenv("DIVIDERE_HELPER_ARGS"), " ")))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(name string, args []string) int {
	ctx := context.Background()
	switch name {
	case "broker": // args: frontend backend
		b, err := patterns.NewBroker(args[0], args[1], fastBeat)
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("READY", b.Frontend(), b.Backend())
		select {}
	case "worker": // args: backend; answers "w:<request>", holds "hang" forever
		w := patterns.NewWorker(args[0], func(ctx context.Context, req []byte) ([]byte, error) {
			if string(req) == "hang" {
				fmt.Println("GOT hang")
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return append([]byte("w:"), req...), nil
		}, fastBeat, patterns.WithCapacity(2))
		fmt.Println("READY", w.ID())
		w.Run(ctx)
	}
	fmt.Println("ERR unknown helper", name)
	return 2
}

// proc is a helper process.
type proc struct {
	cmd    *exec.Cmd
	fields []string // of its READY line, after READY
	lines  chan string
	once   sync.Once
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DIVIDERE_HELPER="+name, "DIVIDERE_HELPER_ARGS="+strings.Join(args, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100)}
	t.Cleanup(p.kill)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	l := p.expect(t, "READY", 15*time.Second)
	p.fields = strings.Fields(l)[1:]
	return p
}

// expect waits for a line starting with prefix.
func (p *proc) expect(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("helper exited waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("helper did not say %q in %v", prefix, d)
		}
	}
}

// kill sends SIGKILL and reaps the process.
func (p *proc) kill() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	})
}

func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func ok[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func closeAll(t *testing.T, cs ...interface{ Close() error }) {
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
}

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w interface{ Run(context.Context) error }) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// echo is a handler that answers "<tag>:<request>".
func echo(tag string) patterns.Handler {
	return func(_ context.Context, req []byte) ([]byte, error) {
		return append([]byte(tag+":"), req...), nil
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
