package service_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/internal/zmtptest"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// A ShutdownEvent from anyone used to stop a Service's reactor while it
// stayed registered (a zombie), and the name service's. Now both refuse
// it, count it, and go on serving; the name service and the service run
// as processes of their own, as deployed.
func TestShutdownEventStopsNothing(t *testing.T) {
	reg := testproc.Start(t, "registry", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	regAddr, noticeAddr := reg.Fields[0], reg.Fields[1]
	svc := testproc.Start(t, "service", regAddr, noticeAddr, "hostile.Echo", "2s")
	port, _ := strconv.Atoi(svc.Fields[0])
	ctx := tctx(t, 20*time.Second)
	c, err := registry.NewClient(registry.WithAddress(regAddr), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 10*time.Second, "service registered", func() bool { _, err := c.Lookup(ctx, "hostile.Echo"); return err == nil })

	endpoint := "tcp://127.0.0.1:" + strconv.Itoa(port)
	req := testutil.OK(messaging.NewRequest(endpoint))(t)
	raw := testutil.OK(connection.NewRequest(endpoint))(t)
	toRegistry := testutil.OK(messaging.NewRequest(regAddr))(t)
	defer req.Close()
	defer raw.Close()
	defer toRegistry.Close()
	for range 3 {
		for _, r := range []*messaging.Request{req, toRegistry} {
			ack, err := messaging.Call[*msglib.Ack](ctx, r, &msglib.ShutdownEvent{})
			if messaging.CodeOf(err) != messaging.PermissionDenied {
				t.Fatalf("ShutdownEvent: %v %v, want PERMISSION_DENIED", ack, err)
			}
		}
	}
	// Garbage and a type nobody handles are refused too, and counted.
	if rep, err := raw.Call(ctx, []byte("garbage")); err != nil || len(rep) != 1 {
		t.Fatalf("garbage: %v %v", rep, err)
	}
	if ack, err := messaging.Call[*msglib.Ack](ctx, req, &testpb.BoolMsg{}); messaging.CodeOf(err) != messaging.Unimplemented {
		t.Fatalf("unhandled type: %v %v, want UNIMPLEMENTED", ack, err)
	}
	rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "still"})
	if err != nil || rep.Value != "still from "+svc.Fields[0] {
		t.Fatalf("service after ShutdownEvents: %v %v", rep, err)
	}
	info, err := messaging.Call[*msglib.ServiceInfoRep](ctx, req, &msglib.ServiceInfoReq{})
	if err != nil {
		t.Fatal(err)
	}
	// 3 ShutdownEvents + garbage + unhandled = 5 refused; requests also
	// count the call above (the info request is counted after its reply).
	if st := info.Instance.Stats; st.Errors != 5 || st.Requests != 6 {
		t.Fatalf("stats %+v, want 5 errors of 6 requests", st)
	}
	// The name service still answers, and still has the service, across
	// more than a TTL (so the service still renews).
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := c.Lookup(ctx, "hostile.Echo"); err != nil {
			t.Fatalf("lookup after ShutdownEvents: %v", err)
		}
		if _, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "x"}); err != nil {
			t.Fatalf("call after ShutdownEvents: %v", err)
		}
	}
}

// If a Service's serving loop ends by itself, the Service unregisters
// and Run returns the reason, instead of staying registered while it
// answers no one.
func TestServiceUnregistersWhenServingEnds(t *testing.T) {
	s, c := newRegistry(t)
	svc, err := service.New(nil, service.WithName("ends.Echo"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(s.Endpoints())), service.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t, 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	eventually(t, 5*time.Second, "registered", func() bool { return svc.Registrations() > 0 })
	service.CloseSocket(svc)
	select {
	case err := <-done:
		if !errors.Is(err, connection.ErrClosed) {
			t.Fatalf("Run returned %v, want the closed socket", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return when serving ended")
	}
	if _, err := c.Lookup(ctx, "ends.Echo"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("still registered after serving ended: %v", err)
	}
}

// Hostile frames used to inflate the name service and a Service for
// minutes: a 10 MB "subscription" took the name service's notice port
// from 226 to 1041 MB, and a 100 MB request left about 100 MB resident
// for five minutes. Now the notice port and the request port refuse them
// before libzmq allocates them, and a Service that accepts a large frame
// hands the memory back promptly.
func TestHostileFramesLeaveNoMemory(t *testing.T) {
	reg := testproc.Start(t, "registry", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	regAddr, noticeAddr := reg.Fields[0], reg.Fields[1]
	svc := testproc.Start(t, "service", regAddr, noticeAddr, "memory.Echo", "2s")
	ctx := tctx(t, 60*time.Second)
	c, err := registry.NewClient(registry.WithAddress(regAddr), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 10*time.Second, "service registered", func() bool { _, err := c.Lookup(ctx, "memory.Echo"); return err == nil })
	regBefore, svcBefore := reg.RSS(t), svc.RSS(t)
	const mb = 1 << 20

	// The notice port: a 10 MB subscription.
	sub, err := zmtptest.Dial(noticeAddr, "SUB")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Send(append([]byte{1}, make([]byte, 10*mb)...)); err == nil && !sub.WaitClosed(10*time.Second) {
		t.Fatal("the notice port kept a peer that sent a 10 MB subscription")
	}
	sub.Close()
	// The request port: a 100 MB request.
	req, err := zmtptest.Dial(regAddr, "REQ")
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Send([]byte{}, make([]byte, 100*mb)); err == nil && !req.WaitClosed(10*time.Second) {
		t.Fatal("the name service kept a peer that sent a 100 MB request")
	}
	req.Close()
	if _, err := c.Lookup(ctx, "memory.Echo"); err != nil {
		t.Fatalf("lookup after hostile frames: %v", err)
	}
	regAfter := reg.RSS(t)
	t.Logf("name service RSS %d MB before, %d MB after a 10 MB subscription and a 100 MB request", regBefore/mb, regAfter/mb)
	if regAfter-regBefore > 16*mb {
		t.Fatalf("the name service grew by %d MB", (regAfter-regBefore)/mb)
	}

	// A Service accepts frames up to connection's default limit of 256 MiB: a
	// 100 MB garbage request is refused with ack{ok: false}, and the
	// memory it took goes back.
	port := svc.Fields[0]
	raw, err := zmtptest.Dial("127.0.0.1:"+port, "REQ")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Send([]byte{}, make([]byte, 100*mb)); err != nil {
		t.Fatal(err)
	}
	rep, err := raw.Recv(20 * time.Second)
	if err != nil || len(rep) != 2 {
		t.Fatalf("no answer to the 100 MB request: %v %v", rep, err)
	}
	if testutil.Race {
		// The race detector shadows the engine's buffers, and never hands
		// its shadow back: make test measures this without it.
		t.Log("race detector on: the service's RSS after a large frame is not measured")
	} else {
		checkHandedBack(t, svc, svcBefore)
	}
	if got, err := call(ctx, c, "memory.Echo", "after"); err != nil || got != "after from "+port {
		t.Fatalf("call after the 100 MB request: %q %v", got, err)
	}
}

// checkHandedBack checks that a service's memory goes back near what it
// was before a large frame.
func checkHandedBack(t *testing.T, svc *testproc.Proc, svcBefore int64) {
	const mb = 1 << 20
	peak := svc.RSS(t)
	took := eventually(t, 10*time.Second, "the service's memory handed back", func() bool { return svc.RSS(t)-svcBefore < 32*mb })
	t.Logf("service RSS %d MB before, %d MB on answering a 100 MB request, %d MB %v later",
		svcBefore/mb, peak/mb, svc.RSS(t)/mb, took.Round(10*time.Millisecond))
}

// A flood of garbage used to write a warning per message, about 200
// bytes each: 200 MB of log in 10 s at 100k messages a second. Now the
// first few are written and the rest summarised once a second, while the
// counts stay exact.
func TestGarbageFloodLogsLittle(t *testing.T) {
	reg := testproc.Start(t, "registry", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	svc := testproc.Start(t, "service", reg.Fields[0], reg.Fields[1], "flood.Echo", "2s", "log")
	ctx := tctx(t, 60*time.Second)
	endpoint := "tcp://127.0.0.1:" + svc.Fields[0]
	raw, err := zmtptest.Dial(endpoint, "DEALER")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Answers are read and dropped, so that the service never waits on us.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			if _, err := raw.Recv(30 * time.Second); err != nil {
				return
			}
		}
	}()
	const n = 100_000
	logBefore := svc.StderrBytes()
	start := time.Now()
	for i := range n {
		if err := raw.Queue([]byte{}, []byte("garbage, not an envelope")); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if err := raw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	req := testutil.OK(messaging.NewRequest(endpoint))(t)
	defer req.Close()
	var errs uint64
	eventually(t, 50*time.Second, "every garbage message counted", func() bool {
		info, err := messaging.Call[*msglib.ServiceInfoRep](ctx, req, &msglib.ServiceInfoReq{})
		if err == nil {
			errs = info.Instance.Stats.Errors
		}
		return errs >= n
	})
	took := time.Since(start)
	raw.Close()
	<-drained
	logged := svc.StderrBytes() - logBefore
	perSecond := float64(logged) / took.Seconds()
	t.Logf("%d garbage messages in %v: %d bytes of log (%.0f bytes per second of flood); %d counted", n, took.Round(time.Millisecond), logged, perSecond, errs)
	if errs != n {
		t.Fatalf("counted %d errors, want exactly %d", errs, n)
	}
	// Bounded by time, not by the number of messages: a few lines and a
	// summary per second, whatever the rate.
	if limit := 4096 * (took.Seconds() + 2); float64(logged) > limit {
		t.Fatalf("%d bytes of log, over %.0f", logged, limit)
	}
}
