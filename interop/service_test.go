package interop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

func nameService(t *testing.T) (*registry.Server, *registry.Client) {
	t.Helper()
	s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s)
	c, err := registry.NewClient(registry.WithEndpoints(s.Endpoints()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

// A Python service registers with the Go name service using only the
// original messages; a Go client finds it and calls it.
func TestPythonServiceGoClient(t *testing.T) {
	s, c := nameService(t)
	requests, _, _ := s.Endpoints()
	py := startPython(t, "msg_peer.py", "service", requests, "py.Echo", "3")
	ctx := tctx(t, 20*time.Second)
	in, err := c.Lookup(ctx, "py.Echo")
	if err != nil || in.Endpoint() != py.Endpoint {
		t.Fatalf("lookup: %+v %v (python serves on %s)", in, err, py.Endpoint)
	}
	req, err := messaging.NewRequest(in.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	for _, v := range []string{"a", "b", "c"} {
		rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: v})
		if err != nil || rep.Value != "py-service:"+v {
			t.Fatalf("call: %v %v", rep, err)
		}
	}
	py.Wait(t, ctx)
	// It unregistered on its way out.
	if _, err := c.Lookup(ctx, "py.Echo"); err == nil {
		t.Fatal("still registered")
	}
}

// A Go service is looked up and called by a Python client that uses only
// the original messages.
func TestGoServicePythonClient(t *testing.T) {
	s, _ := nameService(t)
	svc, err := service.New(nil, service.WithName("go.Echo"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(s.Endpoints())))
	if err != nil {
		t.Fatal(err)
	}
	messaging.Handle(svc, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: "go-service got " + m.Value}, nil
	})
	ctx := tctx(t, 20*time.Second)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(runCtx) }()
	defer func() { cancel(); <-done }()
	for svc.Registrations() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("never registered")
		case <-time.After(10 * time.Millisecond):
		}
	}
	requests, _, _ := s.Endpoints()
	py := startPython(t, "msg_peer.py", "lookup", requests, "go.Echo")
	py.Wait(t, ctx)
	var out []string
	for l := range py.Lines {
		out = append(out, l)
	}
	if strings.Join(out, "|") != "go-service got from python" {
		t.Fatalf("python client printed %q", out)
	}
}
