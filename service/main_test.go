package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestMain doubles as the helper processes the tests kill.
func TestMain(m *testing.M) {
	testproc.Main(m, map[string]testproc.Helper{"registry": registryHelper, "service": serviceHelper})
}

// registryHelper runs a name service on args[0] (requests) and args[1]
// (notices).
func registryHelper(args []string) int {
	s, err := registry.NewServer(registry.WithEndpoints(args[0], args[1], ""), registry.WithSweepInterval(20*time.Millisecond),
		registry.WithLogger(quiet))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	req, notices, _ := s.Endpoints()
	fmt.Println("READY", req, notices)
	s.Serve(context.Background()) // until killed
	return 0
}

// serviceHelper runs an Echo service; args: registry-address
// notice-address name ttl [log], where log sends its warnings to
// standard error (they are discarded otherwise).
func serviceHelper(args []string) int {
	ttl, _ := time.ParseDuration(args[3])
	logger := quiet
	if len(args) > 4 && args[4] == "log" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	svc, err := newEcho(args[0], args[1], args[2], ttl, logger)
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY", svc.Instance().Port)
	svc.Serve(context.Background())
	return 0
}

// Echo is a test service: it answers a StringMsg with its own port.
type Echo struct{ port int }

// Register registers the handlers: service.New calls it.
func (e *Echo) Register(m *messaging.Mux) {
	messaging.Handle(m, func(ctx context.Context, req *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: fmt.Sprintf("%s from %d", req.Value, e.port)}, nil
	})
}

func newEcho(registryAddr, noticeAddr, name string, ttl time.Duration, logger *slog.Logger) (*service.Service, error) {
	e := &Echo{}
	svc, err := service.New(e, service.WithName(name), service.WithHost("127.0.0.1"), service.WithTTL(ttl),
		service.WithRegistry(registry.WithEndpoints(registryAddr, noticeAddr, ""),
			registry.WithRetry(150*time.Millisecond, 1, 0)),
		service.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	e.port = svc.Instance().Port
	return svc, nil
}

// runService runs svc until the test ends.
func runService(t *testing.T, svc *service.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// tctx is testutil.Ctx.
func tctx(t *testing.T, d time.Duration) context.Context { return testutil.Ctx(t, d) }

// eventually is testutil.Eventually.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return testutil.Eventually(t, d, what, cond)
}
