package service_test

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

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestMain doubles as the helper processes the tests kill.
func TestMain(m *testing.M) {
	if h := os.Getenv("DIVIDERE_HELPER"); h != "" {
		os.Exit(runHelper(h, strings.Fields(os.Getenv("DIVIDERE_HELPER_ARGS"))))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(name string, args []string) int {
	switch name {
	case "registry": // args: request-endpoint notice-endpoint
		s, err := registry.NewServer(registry.WithEndpoints(args[0], args[1]), registry.WithSweepInterval(20*time.Millisecond),
			registry.WithServerLogger(quiet))
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("READY", s.RequestEndpoint(), s.NoticeEndpoint())
		select {}
	case "service": // args: registry-address notice-address name ttl
		ttl, _ := time.ParseDuration(args[3])
		svc, err := newEcho(args[0], args[1], args[2], ttl)
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("READY", svc.Port())
		svc.Run(context.Background())
		return 0
	}
	fmt.Println("ERR unknown helper", name)
	return 2
}

// Echo is a test service: it answers a StringMsg with its own port.
type Echo struct{ port int }

// Register implements service.Registrar.
func (e *Echo) Register(m *messaging.Mux) {
	messaging.Handle(m, func(ctx context.Context, req *testpb.StringMsg, from messaging.Source) error {
		return from.Reply(ctx, &testpb.StringMsg{Value: fmt.Sprintf("%s from %d", req.Value, e.port)})
	})
}

func newEcho(registryAddr, noticeAddr, name string, ttl time.Duration) (*service.Service, error) {
	e := &Echo{}
	svc, err := service.New(e, service.WithName(name), service.WithHost("127.0.0.1"), service.WithTTL(ttl),
		service.WithRegistry(registry.WithAddress(registryAddr), registry.WithNoticeAddress(noticeAddr),
			registry.WithTimeout(300*time.Millisecond)),
		service.WithLogger(quiet))
	if err != nil {
		return nil, err
	}
	e.port = svc.Port()
	return svc, nil
}

// runService runs svc until the test ends.
func runService(t *testing.T, svc *service.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

type proc struct {
	cmd    *exec.Cmd
	fields []string
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
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(p.kill)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-ready:
		if !strings.HasPrefix(l, "READY") {
			t.Fatalf("%s: %s", name, l)
		}
		p.fields = strings.Fields(l)[1:]
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return p
}

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

// eventually polls cond every 10 ms until it holds or d passes, and
// returns how long it took. It is for conditions with no event to wait
// on, such as "the name service forgot a dead service".
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
