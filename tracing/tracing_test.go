package tracing_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
	"github.com/dividere-go/dividere/tracing"
)

// The broker and worker of the three-process test are this test binary,
// run with a role.
func TestMain(m *testing.M) {
	if role := os.Getenv("TRACING_TEST_ROLE"); role != "" {
		os.Exit(child(role, os.Args[len(os.Args)-1]))
	}
	testutil.VerifyNoLeaks(m)
}

func provider() (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), exp
}

// span is what a process reports of a span.
type span struct {
	Trace, ID, Parent, Name, Proc string
	Links                         []string
}

func spansOf(exp *tracetest.InMemoryExporter, proc string) []span {
	var out []span
	for _, s := range exp.GetSpans() {
		sp := span{Trace: s.SpanContext.TraceID().String(), ID: s.SpanContext.SpanID().String(), Name: s.Name, Proc: proc}
		if s.Parent.IsValid() {
			sp.Parent = s.Parent.SpanID().String()
		}
		for _, l := range s.Links {
			sp.Links = append(sp.Links, l.SpanContext.SpanID().String())
		}
		out = append(out, sp)
	}
	return out
}

// waitSpans returns the exported spans once every name is among them.
func waitSpans(t *testing.T, ctx context.Context, exp *tracetest.InMemoryExporter, proc string, names ...string) []span {
	t.Helper()
	for {
		spans := spansOf(exp, proc)
		missing := false
		for _, n := range names {
			if !slices.ContainsFunc(spans, func(s span) bool { return s.Name == n }) {
				missing = true
			}
		}
		if !missing {
			return spans
		}
		select {
		case <-ctx.Done():
			t.Fatalf("spans %v never all exported: %+v", names, spans)
		case <-time.After(time.Millisecond):
		}
	}
}

func find(t *testing.T, spans []span, name string) span {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q in %+v", name, spans)
	return span{}
}

func echoText(_ context.Context, m *msglib.Text, _ messaging.Peer) (*msglib.Text, error) {
	return m, nil
}

// Request → Response, pub/sub, and a Service called by name, in one
// process: the handler's span is the child of the sender's (in the
// caller's trace), and a subscriber's is linked to the publisher's.
func TestSpansInProcess(t *testing.T) {
	tp, exp := provider()
	ctx := testutil.Ctx(t, 20*time.Second)
	root, rootSpan := tp.Tracer("test").Start(ctx, "root")

	rep, _ := messaging.NewResponse("@tcp://127.0.0.1:0")
	req, _ := messaging.NewRequest(rep.Endpoint(), tracing.Outgoing(tp))
	pub, _ := messaging.NewPublisher("@tcp://127.0.0.1:0", tracing.Outgoing(tp))
	sub, _ := messaging.NewSubscriber(pub.Endpoint())
	testutil.CloseAll(t, rep, req, pub, sub)
	got := make(chan struct{}, 1)
	r := messaging.NewReactor([]messaging.Endpoint{rep, sub}, tracing.Middleware(tp))
	messaging.Handle(r, echoText)
	messaging.HandleMessage(r, func(_ context.Context, _ *msglib.Bytes, _ messaging.Peer) error { got <- struct{}{}; return nil })
	testutil.Serve(t, r)
	if _, err := messaging.Call[*msglib.Text](root, req, &msglib.Text{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribers(ctx, &msglib.Bytes{}, 1); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(root, &msglib.Bytes{Data: []byte("event")}); err != nil {
		t.Fatal(err)
	}
	<-got
	rootSpan.End()
	// The handler said it had the event from inside the span the
	// middleware ends once it returns: wait for that span to be there.
	spans := waitSpans(t, ctx, exp, "test", "root", "handle dividere.Text", "handle dividere.Bytes")
	rs := find(t, spans, "root")
	send := find(t, spans, "send dividere.Text")
	handle := find(t, spans, "handle dividere.Text")
	if send.Parent != rs.ID || handle.Parent != send.ID || handle.Trace != rs.Trace {
		t.Fatalf("request/reply: root %+v, send %+v, handle %+v", rs, send, handle)
	}
	psend := find(t, spans, "send dividere.Bytes")
	recv := find(t, spans, "handle dividere.Bytes")
	if psend.Parent != rs.ID || recv.Trace == rs.Trace || len(recv.Links) != 1 || recv.Links[0] != psend.ID {
		t.Fatalf("pub/sub: send %+v, handle %+v (want a trace of its own, linked)", psend, recv)
	}

	// A Service called by name.
	exp.Reset()
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ns)
	svc, err := service.New(nil, service.WithName("traced"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(ns.Endpoints())), service.WithReactorOptions(tracing.Middleware(tp)))
	if err != nil {
		t.Fatal(err)
	}
	messaging.Handle(svc, echoText)
	testutil.Serve(t, svc)
	if err := svc.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()), registry.WithMessagingOptions(tracing.Outgoing(tp)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root2, rootSpan2 := tp.Tracer("test").Start(ctx, "by name")
	if _, err := registry.Call[*msglib.Text](root2, c, "traced", &msglib.Text{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	rootSpan2.End()
	// The reply can arrive before the server's span has ended (the
	// middleware ends it once the handler returns): wait for it.
	spans = waitSpans(t, ctx, exp, "test", "by name", "handle dividere.Text")
	rs = find(t, spans, "by name")
	send = find(t, spans, "send dividere.Text")
	handle = find(t, spans, "handle dividere.Text")
	if send.Parent != rs.ID || handle.Parent != send.ID || handle.Trace != rs.Trace {
		t.Fatalf("by name: root %+v, send %+v, handle %+v", rs, send, handle)
	}
}

// child runs the broker or the worker of the three-process test until its
// standard input closes, then prints its spans, a JSON object a line.
func child(role, arg string) int {
	tp, exp := provider()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	switch role {
	case "broker":
		b, err := patterns.NewBroker("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", tracing.Broker(tp))
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		go b.Serve(ctx)
		defer b.Close()
		fmt.Println("READY", b.Frontend(), b.Backend())
	case "worker":
		w, err := patterns.NewMsgWorker(arg, patterns.WithReactorOptions(tracing.Middleware(tp)))
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		messaging.Handle(w, echoText)
		go w.Serve(ctx)
		defer w.Close()
		fmt.Println("READY")
	}
	io.Copy(io.Discard, os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for _, s := range spansOf(exp, role) {
		enc.Encode(s)
	}
	return 0
}

type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func spawn(t *testing.T, role, arg string) (*proc, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), "TRACING_TEST_ROLE="+role)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &proc{cmd: cmd, in: in, lines: bufio.NewScanner(out)}
	if !p.lines.Scan() || !strings.HasPrefix(p.lines.Text(), "READY") {
		t.Fatalf("%s did not start: %q", role, p.lines.Text())
	}
	return p, strings.Fields(p.lines.Text())[1:]
}

// spans ends the process and reads its spans.
func (p *proc) spans(t *testing.T) []span {
	t.Helper()
	p.in.Close()
	var out []span
	for p.lines.Scan() {
		var s span
		if err := json.Unmarshal(p.lines.Bytes(), &s); err != nil {
			t.Fatalf("%q: %v", p.lines.Text(), err)
		}
		out = append(out, s)
	}
	return out
}

// One trace across three processes: client → broker → worker, each span
// the parent of the next.
func TestTraceAcrossClientBrokerWorker(t *testing.T) {
	broker, eps := spawn(t, "broker", "-")
	worker, _ := spawn(t, "worker", eps[1])
	tp, exp := provider()
	c, err := patterns.NewClient(eps[0], patterns.WithMessagingOptions(tracing.Outgoing(tp)), patterns.WithRetry(5*time.Second, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testutil.Ctx(t, 30*time.Second)
	root, rootSpan := tp.Tracer("test").Start(ctx, "client")
	if _, err := patterns.Call[*msglib.Text](root, c, &msglib.Text{Text: "traced"}); err != nil {
		t.Fatal(err)
	}
	rootSpan.End()
	var all []span
	all = append(all, spansOf(exp, "client")...)
	all = append(all, broker.spans(t)...)
	all = append(all, worker.spans(t)...)
	rs := find(t, all, "client")
	send := find(t, all, "send dividere.Text")
	fwd := find(t, all, "broker forward")
	handle := find(t, all, "handle dividere.Text")
	if send.Parent != rs.ID || fwd.Parent != send.ID || handle.Parent != fwd.ID {
		t.Fatalf("parents: client %+v, send %+v, broker %+v, worker %+v", rs, send, fwd, handle)
	}
	procs := map[string]bool{}
	for _, s := range []span{rs, send, fwd, handle} {
		if s.Trace != rs.Trace {
			t.Fatalf("span %+v is in another trace than %s", s, rs.Trace)
		}
		procs[s.Proc] = true
	}
	if len(procs) != 3 {
		t.Fatalf("the trace spans %d processes: %v", len(procs), procs)
	}
}
