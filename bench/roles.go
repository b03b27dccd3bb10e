package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	zmq "github.com/pebbe/zmq4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/zmtp"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/tracing"
)

// The first byte of every pub/sub payload says what it is.
const (
	kindProbe = 'P' // before GO: tells the subscriber the subscription is in place
	kindData  = 'D' // measured
	kindEnd   = 'E' // after the data
)

// idleEnd is how long a subscriber waits for more once data has
// started: what has not come by then is lost.
const idleEnd = 2 * time.Second

// child runs one role; its exit code is the process's.
func child(args []string) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if len(args) == 0 {
		fmt.Println("ERR no role")
		return 2
	}
	if dir := os.Getenv("BENCH_PROFILE"); dir != "" && args[0] != "nats-server" {
		// For finding costs: a CPU profile per child, named by its role
		// and the arguments that shape it (not its endpoints).
		f, err := os.Create(filepath.Join(dir, profileName(args)+".pprof"))
		if err == nil {
			pprof.StartCPUProfile(f)
			stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	var err error
	switch args[0] {
	case "nats-server":
		err = runNATSServer()
	case "pub":
		err = runPub(args[1], atoi(args[2]), atoi(args[3]), args[4], atoi(args[5]))
	case "sub":
		err = runSub(args[1], atoi(args[2]), atoi(args[3]), args[4])
	case "rep":
		err = runRep(args[1], args[2], atoi(args[3]))
	case "req":
		d, _ := time.ParseDuration(args[6])
		err = runReq(args[1], args[2], atoi(args[3]), atoi(args[4]), atoi(args[5]), d, args[7] == "deadline", atoi(args[8]))
	case "broker", "brokerm", "brokert":
		err = runBroker(args[0], atoi(args[1]))
	case "registry":
		err = runRegistry()
	case "rawbroker":
		err = runRawBroker(atoi(args[1]))
	case "zmqproxy":
		err = runProxy(atoi(args[1]))
	case "workers":
		err = runWorkers(args[1], args[2], atoi(args[3]))
	case "zmtpproxy":
		err = runGoProxy(atoi(args[1]))
	case "engine":
		// For the tests: says which engine the child's sockets run on.
		say("READY %s", connection.Engine())
		untilParentGoes()
	default:
		err = fmt.Errorf("unknown role %q", args[0])
	}
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	return 0
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// profileName names a child's CPU profile by its arguments, leaving out
// endpoints and URLs.
func profileName(args []string) string {
	var parts []string
	for _, a := range args {
		if !strings.ContainsAny(a, ":/") {
			parts = append(parts, a)
		}
	}
	return strings.Join(parts, "-")
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func result(r childResult) {
	stopProfile()
	report(r)
}

// report says the child's RESULT; unlike result, it leaves the profile
// running (for a publisher, whose queue is still going out).
func report(r childResult) {
	b, _ := json.Marshal(r)
	say("RESULT %s", b)
}

// waitGo returns a channel closed when the parent says GO (or goes).
func waitGo() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "GO" {
				break
			}
		}
		close(ch)
	}()
	return ch
}

// untilParentGoes blocks until the parent closes our standard input.
func untilParentGoes() { io.Copy(io.Discard, os.Stdin); stopProfile() }

// stopProfile ends the child's CPU profile (BENCH_PROFILE), if any.
var stopProfile = func() {}

func runNATSServer() error {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return errors.New("NATS server did not start")
	}
	say("READY %s", s.ClientURL())
	untilParentGoes()
	s.Shutdown()
	return nil
}

// publisher is one system's way to publish a payload.
type publisher struct {
	endpoint string
	send     func([]byte) error
	flush    func()
}

func newPublisher(role, natsURL string) (publisher, error) {
	switch role {
	case "raw":
		pub, err := zmq.NewSocket(zmq.PUB)
		if err != nil {
			return publisher{}, err
		}
		pub.SetSndhwm(0) // the reference: libzmq with no high-water mark, so nothing is dropped
		if err := pub.Bind("tcp://127.0.0.1:*"); err != nil {
			return publisher{}, err
		}
		ep, _ := pub.GetLastEndpoint()
		return publisher{endpoint: ep, send: func(b []byte) error { _, err := pub.SendBytes(b, 0); return err }}, nil
	case "zmtp":
		return newGoPublisher()
	case "conn", "pb", "connctx":
		pub, err := connection.NewPublisher("@tcp://127.0.0.1:0")
		if err != nil {
			return publisher{}, err
		}
		ctx := context.Background()
		if role != "pb" {
			return publisher{endpoint: pub.Endpoint(), send: func(b []byte) error { return pub.Send(ctx, b) }}, nil
		}
		// pb: the payload as a bare BytesValue, marshalled into a reused buffer.
		m := &wrapperspb.BytesValue{}
		var buf []byte
		return publisher{endpoint: pub.Endpoint(), send: func(b []byte) error {
			m.Value = b
			var err error
			if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf[:0], m); err != nil {
				return err
			}
			return pub.Send(ctx, buf)
		}}, nil
	case "msg", "msgv1", "msgctx", "reactor", "reactorm", "reactort":
		// The Reactor rows' publishers are the messaging rows'; with
		// metrics on, the metrics module reads its counters; with tracing
		// on, every send is a span whose context travels in the header.
		var opts []messaging.PublisherOption
		switch {
		case role == "msgv1":
			opts = append(opts, messaging.WithoutSequence())
		case observed(role) == 't':
			opts = append(opts, tracing.Outgoing(tracerProvider()))
		}
		pub, err := messaging.NewPublisher("@tcp://127.0.0.1:0", opts...)
		if err != nil {
			return publisher{}, err
		}
		if observed(role) == 'm' {
			m := newMetrics()
			metrics.Add(m, pub.Name(), pub.Stats)
			metrics.Add(m, pub.Name(), pub.MessageStats)
		}
		ctx := context.Background()
		m := &wrapperspb.BytesValue{}
		return publisher{endpoint: pub.Endpoint(), send: func(b []byte) error { m.Value = b; return pub.Send(ctx, m) }}, nil
	case "nats":
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return publisher{}, err
		}
		return publisher{endpoint: natsURL, send: func(b []byte) error { return nc.Publish("bench", b) }, flush: func() { nc.Flush() }}, nil
	}
	return publisher{}, fmt.Errorf("no publisher %q", role)
}

// runPub publishes n messages of size, as fast as it can or, with rate >
// 0, rate a second: each message at its time from the start, so that a
// late wake-up is caught up with a burst, not lost.
func runPub(role string, size, n int, natsURL string, rate int) error {
	p, err := newPublisher(role, natsURL)
	if err != nil {
		return err
	}
	say("READY %s", p.endpoint)
	payload := make([]byte, size)
	payload[0] = kindProbe
	for goNow, t := waitGo(), time.NewTicker(5*time.Millisecond); ; {
		select {
		case <-goNow:
			t.Stop()
			goto send
		case <-t.C:
			p.send(payload)
		}
	}
send:
	payload[0] = kindData
	start := time.Now()
	for i := range n {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				time.Sleep(wait) // pacing, not synchronisation
			}
		}
		if err := p.send(payload); err != nil {
			return err
		}
	}
	took := time.Since(start)
	payload[0] = kindEnd
	for range 10 {
		p.send(payload)
	}
	if p.flush != nil {
		p.flush()
	}
	// The profile goes on until the parent ends us: what the publisher
	// queued may still be going out, and that costs it CPU too.
	report(childResult{Sent: n, Seconds: took.Seconds(), Rate: float64(n) / took.Seconds()})
	untilParentGoes() // linger: the parent ends us once the subscriber is done
	return nil
}

// counter counts data messages for a subscriber, with their first and
// last arrival.
type counter struct {
	ready       chan struct{}
	readyOnce   sync.Once
	done        chan struct{}
	doneOnce    sync.Once
	n           atomic.Int64
	first, last atomic.Int64 // UnixNano
}

func newCounter() *counter { return &counter{ready: make(chan struct{}), done: make(chan struct{})} }

// see is called for every message received; it reports whether to stop.
func (c *counter) see(kind byte) bool {
	switch kind {
	case kindProbe:
		c.readyOnce.Do(func() { close(c.ready) })
	case kindData:
		// The clock is read for the first message and every 64th, not for
		// each: the harness should cost the subscribers little, and alike.
		if n := c.n.Add(1); n == 1 {
			now := time.Now().UnixNano()
			c.first.Store(now)
			c.last.Store(now)
		} else if n%64 == 0 {
			c.last.Store(time.Now().UnixNano())
		}
	case kindEnd:
		c.last.Store(time.Now().UnixNano()) // the data ended just before
		c.finish()
		return true
	}
	return false
}

func (c *counter) finish() { c.doneOnce.Do(func() { close(c.done) }) }

// watch ends the count when data has stopped coming for idleEnd.
func (c *counter) watch(cancel func()) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			cancel()
			return
		case <-t.C:
			if last := c.last.Load(); last > 0 && time.Since(time.Unix(0, last)) > idleEnd {
				c.finish()
				cancel()
				return
			}
		}
	}
}

func runSub(role string, size, n int, endpoint string) error {
	c := newCounter()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var recvLoop func() error
	switch role {
	case "raw":
		sub, err := zmq.NewSocket(zmq.SUB)
		if err != nil {
			return err
		}
		sub.SetRcvhwm(0)
		sub.SetSubscribe("")
		sub.SetRcvtimeo(100 * time.Millisecond)
		if err := sub.Connect(endpoint); err != nil {
			return err
		}
		recvLoop = func() error {
			for ctx.Err() == nil {
				b, err := sub.RecvBytes(0)
				if err != nil {
					continue // a timeout: check whether to stop
				}
				if c.see(b[0]) {
					return nil
				}
			}
			return nil
		}
	case "zmtp":
		var err error
		if recvLoop, err = goRecvLoop(ctx, c, endpoint); err != nil {
			return err
		}
	case "conn", "pb", "connctx":
		sub, err := connection.NewSubscriber(endpoint)
		if err != nil {
			return err
		}
		bare := role == "pb" // a bare BytesValue to unmarshal
		recv := sub.Recv
		if role == "connctx" {
			recv = perCall(sub.Recv)
		}
		recvLoop = func() error {
			for {
				m, err := recv(ctx)
				if err != nil {
					return nil
				}
				payload := m[0]
				if bare {
					v := &wrapperspb.BytesValue{}
					if err := proto.Unmarshal(payload, v); err != nil {
						return err
					}
					payload = v.Value
				}
				if c.see(payload[0]) {
					return nil
				}
			}
		}
	case "msg", "msgv1", "msgctx":
		sub, err := messaging.NewSubscriber(endpoint, messaging.WithTypes(&wrapperspb.BytesValue{}))
		if err != nil {
			return err
		}
		recv := func(ctx context.Context) (*wrapperspb.BytesValue, error) {
			return messaging.RecvAs[*wrapperspb.BytesValue](ctx, sub)
		}
		if role == "msgctx" {
			recv = perCall(recv)
		}
		recvLoop = func() error {
			for {
				m, err := recv(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if c.see(m.Value[0]) {
					return nil
				}
			}
		}
	case "reactor", "reactorm", "reactort":
		// A Reactor with a typed handler, as a service subscribes; with
		// metrics on, every metric of the metrics module (the handled
		// messages observed, by type, with their handling time), with
		// tracing on, a span for each handled message, linked to its
		// publisher's.
		sub, err := messaging.NewSubscriber(endpoint, messaging.WithTypes(&wrapperspb.BytesValue{}))
		if err != nil {
			return err
		}
		var opts []messaging.ReactorOption
		var m *metrics.Metrics
		switch observed(role) {
		case 'm':
			m = newMetrics()
			metrics.Add(m, sub.Name(), sub.Stats)
			metrics.Add(m, sub.Name(), sub.MessageStats)
			opts = append(opts, messaging.WithObserver(m.Observe))
		case 't':
			opts = append(opts, tracing.Middleware(tracerProvider()))
		}
		r := messaging.NewReactor([]messaging.Endpoint{sub}, opts...)
		messaging.HandleMessage(r, func(_ context.Context, b *wrapperspb.BytesValue, _ messaging.Peer) error {
			c.see(b.Value[0])
			return nil
		})
		if m != nil {
			metrics.Add(m, "bench", r.Stats)
		}
		recvLoop = func() error {
			if err := r.Serve(ctx); err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		}
	case "nats":
		nc, err := nats.Connect(endpoint)
		if err != nil {
			return err
		}
		if _, err := nc.Subscribe("bench", func(m *nats.Msg) { c.see(m.Data[0]) }); err != nil {
			return err
		}
		nc.Flush()
		recvLoop = func() error { <-ctx.Done(); return nil }
	default:
		return fmt.Errorf("no subscriber %q", role)
	}
	go c.watch(cancel)
	errc := make(chan error, 1)
	go func() { errc <- recvLoop() }()
	select {
	case <-c.ready:
	case err := <-errc:
		return fmt.Errorf("subscriber ended before the first probe: %v", err)
	case <-time.After(30 * time.Second):
		return errors.New("no probe within 30 s")
	}
	say("READY")
	if err := <-errc; err != nil {
		return err
	}
	got := int(c.n.Load())
	secs := time.Duration(c.last.Load() - c.first.Load()).Seconds()
	result(childResult{Received: got, Seconds: secs})
	untilParentGoes() // linger: the parent reads what we used, then ends us
	return nil
}

// perCall wraps recv so that every call has a deadline context of its
// own (context.WithTimeout of the loop's context), as a receive loop that
// bounds each receive does.
func perCall[M any](recv func(context.Context) (M, error)) func(context.Context) (M, error) {
	return func(ctx context.Context) (M, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return recv(ctx)
	}
}

// The gRPC echo, declared by hand (no generated code needed for one method).
type echoServer interface {
	Echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

type echoImpl struct{}

func (echoImpl) Echo(_ context.Context, m *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return m, nil
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "bench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Echo", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.BytesValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		return srv.(echoServer).Echo(ctx, in)
	}}},
}

// runRep starts n responders of role in this process, each answering on
// an endpoint of its own, and says READY with the first's endpoint: the
// requester's. With n > 1 the others idle beside it, as the other
// services of a process do.
func runRep(role, natsURL string, n int) error {
	var first string
	for i := range max(n, 1) {
		ep, err := startResponder(role, natsURL, i)
		if err != nil {
			return err
		}
		if i == 0 {
			first = ep
		}
	}
	say("READY %s", first)
	untilParentGoes()
	return nil
}

// startResponder starts responder i of role, echoing every request on a
// goroutine of its own, and returns where its requester connects.
func startResponder(role, natsURL string, i int) (string, error) {
	ctx := context.Background()
	switch role {
	case "raw":
		rep, err := rawBound(zmq.REP)
		if err != nil {
			return "", err
		}
		ep, _ := rep.GetLastEndpoint()
		go func() { // the socket's only user: pebbe sockets are not thread-safe
			for {
				b, err := rep.RecvBytes(0)
				if err != nil {
					return
				}
				rep.SendBytes(b, 0)
			}
		}()
		return ep, nil
	case "zmtp":
		rep, ep, err := goBound(zmtp.REP)
		if err != nil {
			return "", err
		}
		go echo(ctx, rep.Recv, rep.Send)
		return ep, nil
	case "conn":
		rep, err := connection.NewResponse("@tcp://127.0.0.1:0")
		if err != nil {
			return "", err
		}
		go echo(ctx, rep.Recv, func(ctx context.Context, m connection.Message) error { return rep.Send(ctx, m...) })
		return rep.Endpoint(), nil
	case "msg", "msgv2":
		rep, err := messaging.NewResponse("@tcp://127.0.0.1:0")
		if err != nil {
			return "", err
		}
		go echo(ctx, rep.Recv, rep.Send)
		return rep.Endpoint(), nil
	case "reactor", "reactorm", "reactort":
		// A Reactor with a typed handler, as a service answers; with
		// metrics on, every metric the metrics module keeps of it; with
		// tracing on, a span for every handled request, the child of the
		// requester's.
		rep, err := messaging.NewResponse("@tcp://127.0.0.1:0")
		if err != nil {
			return "", err
		}
		var opts []messaging.ReactorOption
		var m *metrics.Metrics
		switch observed(role) {
		case 'm':
			m = newMetrics()
			metrics.Add(m, rep.Name(), rep.Stats)
			metrics.Add(m, rep.Name(), rep.MessageStats)
			opts = append(opts, messaging.WithObserver(m.Observe))
		case 't':
			opts = append(opts, tracing.Middleware(tracerProvider()))
		}
		r := messaging.NewReactor([]messaging.Endpoint{rep}, opts...)
		messaging.Handle(r, func(_ context.Context, b *wrapperspb.BytesValue, _ messaging.Peer) (*wrapperspb.BytesValue, error) {
			return b, nil
		})
		if m != nil {
			metrics.Add(m, "bench", r.Stats)
		}
		go r.Serve(ctx)
		return rep.Endpoint(), nil
	case "nats":
		// A connection per responder, as each service has its own; the
		// first answers the requester's subject.
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return "", err
		}
		subject := "echo"
		if i > 0 {
			subject = fmt.Sprintf("echo.idle.%d", i)
		}
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
			return "", err
		}
		nc.Flush()
		return natsURL, nil
	case "grpc":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		s := grpc.NewServer()
		s.RegisterService(&echoDesc, echoImpl{})
		go s.Serve(l)
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("no responder %q", role)
}

// echo answers every request with itself, until a receive fails.
func echo[M any](ctx context.Context, recv func(context.Context) (M, error), send func(context.Context, M) error) error {
	for {
		m, err := recv(ctx)
		if err != nil {
			return err
		}
		send(ctx, m)
	}
}

// caller makes one request and waits for its answer, within ctx where
// the system takes one; each requester has its own.
type caller func(ctx context.Context, payload []byte) error

func newCaller(role, endpoint string) (caller, error) {
	switch role {
	case "raw":
		req, err := zmq.NewSocket(zmq.REQ)
		if err != nil {
			return nil, err
		}
		req.SetSndhwm(0)
		req.SetRcvhwm(0)
		if err := req.Connect(endpoint); err != nil {
			return nil, err
		}
		// pebbe takes no context: a Go program on it makes its deadline
		// context all the same, and libzmq never sees it.
		return func(_ context.Context, b []byte) error {
			if _, err := req.SendBytes(b, 0); err != nil {
				return err
			}
			_, err := req.RecvBytes(0)
			return err
		}, nil
	case "zmtp":
		return newGoCaller(endpoint)
	case "conn":
		req, err := connection.NewRequest(endpoint)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, b []byte) error { _, err := req.Call(ctx, b); return err }, nil
	case "msg", "msgv2", "reactor", "reactorm", "reactort":
		var opts []messaging.RequestOption
		if observed(role) == 't' {
			opts = append(opts, tracing.Outgoing(tracerProvider()))
		}
		req, err := messaging.NewRequest(endpoint, opts...)
		if err != nil {
			return nil, err
		}
		if observed(role) == 'm' {
			m := newMetrics()
			metrics.Add(m, req.Name(), req.Stats)
			metrics.Add(m, req.Name(), req.MessageStats)
		}
		// msgv2: every request carries the v2 header (the time left
		// before a deadline, timeout_us), from one context made once, so
		// that the row costs the header and not a context per call.
		var long context.Context
		if role == "msgv2" {
			var stop context.CancelFunc
			long, stop = context.WithTimeout(context.Background(), 24*time.Hour)
			lifelong = append(lifelong, stop)
		}
		m := &wrapperspb.BytesValue{}
		return func(ctx context.Context, b []byte) error {
			if long != nil {
				ctx = long
			}
			m.Value = b
			_, err := messaging.Call[*wrapperspb.BytesValue](ctx, req, m)
			return err
		}, nil
	case "nats", "natsqg":
		nc, err := nats.Connect(endpoint)
		if err != nil {
			return nil, err
		}
		subject := "echo"
		if role == "natsqg" {
			subject = "work"
		}
		return func(ctx context.Context, b []byte) error {
			if _, ok := ctx.Deadline(); ok {
				_, err := nc.RequestWithContext(ctx, subject, b)
				return err
			}
			_, err := nc.Request(subject, b, 10*time.Second)
			return err
		}, nil
	case "grpc":
		conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		in, out := &wrapperspb.BytesValue{}, &wrapperspb.BytesValue{}
		return func(ctx context.Context, b []byte) error {
			in.Value = b
			return conn.Invoke(ctx, "/bench.Echo/Echo", in, out)
		}, nil
	case "broker", "brokerm", "brokert":
		opts := []patterns.ClientOption{patterns.WithRetry(10*time.Second, 0, 0)}
		if observed(role) == 't' {
			opts = append(opts, patterns.WithMessagingOptions(tracing.Outgoing(tracerProvider())))
		}
		c, err := patterns.NewClient(endpoint, opts...)
		if err != nil {
			return nil, err
		}
		m := &wrapperspb.BytesValue{}
		return func(ctx context.Context, b []byte) error {
			m.Value = b
			_, err := patterns.Call[*wrapperspb.BytesValue](ctx, c, m)
			return err
		}, nil
	case "registry":
		c, err := registry.NewClient(registry.WithAddress(endpoint))
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, _ []byte) error { _, err := c.Lookup(ctx, registryService); return err }, nil
	}
	return nil, fmt.Errorf("no requester %q", role)
}

// lifelong holds the cancel functions of contexts that live as long as
// the child does.
var lifelong []context.CancelFunc

// runReq makes rounds round trips one at a time (conc 1), or runs conc
// requesters at once for d. With deadline, each call has a context of
// its own, made with context.WithTimeout just before it, as a program
// that bounds every call does. With rate > 0, the requesters together
// start no more than rate calls a second.
func runReq(role, endpoint string, size, rounds, conc int, d time.Duration, deadline bool, rate int) error {
	callers := make([]caller, max(conc, 1))
	for i := range callers {
		c, err := newCaller(role, endpoint)
		if err != nil {
			return err
		}
		callers[i] = c
	}
	call := func(c caller, payload []byte) error {
		if !deadline {
			return c(context.Background(), payload)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c(ctx, payload)
	}
	payload := make([]byte, size)
	// Warm up every connection (and, for TCP, the handshake).
	for _, c := range callers {
		for range 200 {
			if err := call(c, payload); err != nil {
				return err
			}
		}
	}
	say("READY")
	<-waitGo()
	if conc <= 1 {
		lat := make([]time.Duration, 0, rounds)
		start := time.Now()
		for range rounds {
			t := time.Now()
			if err := call(callers[0], payload); err != nil {
				return err
			}
			lat = append(lat, time.Since(t))
		}
		took := time.Since(start)
		r := percentiles(lat)
		r.Received, r.Rate = rounds, float64(rounds)/took.Seconds()
		result(r)
		untilParentGoes()
		return nil
	}
	var wg sync.WaitGroup
	lats := make([][]time.Duration, conc)
	errs := make(chan error, conc)
	start := time.Now()
	deadlineAt := start.Add(d)
	var every time.Duration // between one requester's calls, when paced
	if rate > 0 {
		every = time.Duration(float64(conc) * float64(time.Second) / float64(rate))
	}
	for i, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(every * time.Duration(i) / time.Duration(conc)) // spread the requesters' slots
			for time.Now().Before(deadlineAt) {
				if every > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait) // pacing, not synchronisation
					}
					next = next.Add(every)
				}
				t := time.Now()
				if err := call(c, payload); err != nil {
					errs <- err
					return
				}
				lats[i] = append(lats[i], time.Since(t))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r := percentiles(all)
	r.Received, r.Rate = len(all), float64(len(all))/took.Seconds()
	result(r)
	untilParentGoes()
	return nil
}

func percentiles(lat []time.Duration) childResult {
	if len(lat) == 0 {
		return childResult{}
	}
	slices.Sort(lat)
	return childResult{P50: lat[len(lat)/2].Seconds(), P99: lat[len(lat)*99/100].Seconds()}
}

// runBroker runs dividere's broker (role broker; brokerm with the
// metrics module reading its counters, brokert with a span for each
// request it forwards).
func runBroker(role string, workers int) error {
	var opts []patterns.BrokerOption
	if observed(role) == 't' {
		opts = append(opts, tracing.Broker(tracerProvider()))
	}
	b, err := patterns.NewBroker("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", opts...)
	if err != nil {
		return err
	}
	if observed(role) == 'm' {
		metrics.Add(newMetrics(), "bench", b.Stats)
	}
	go b.Serve(context.Background())
	say("READY %s %s", b.Frontend(), b.Backend())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.WaitWorkers(ctx, workers); err != nil {
		return err
	}
	say("WORKERS")
	untilParentGoes()
	return nil
}

func runWorkers(role, endpoint string, n int) error {
	switch role {
	case "broker", "brokerm", "brokert":
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var opts []patterns.MsgWorkerOption
		switch observed(role) {
		case 'm':
			opts = append(opts, patterns.WithReactorOptions(messaging.WithObserver(newMetrics().Observe)))
		case 't':
			opts = append(opts, patterns.WithReactorOptions(tracing.Middleware(tracerProvider())))
		}
		for range n {
			w, err := patterns.NewMsgWorker(endpoint, opts...)
			if err != nil {
				return err
			}
			messaging.Handle(w, func(ctx context.Context, m *wrapperspb.BytesValue, _ messaging.Peer) (*wrapperspb.BytesValue, error) {
				return m, nil
			})
			go w.Serve(ctx)
		}
		say("READY")
	case "rawbroker":
		return runRawWorkers(endpoint, n, zmq.REQ)
	case "zmqproxy":
		return runRawWorkers(endpoint, n, zmq.REP)
	case "zmtpproxy":
		return runGoWorkers(endpoint, n)
	case "natsqg":
		for range n {
			nc, err := nats.Connect(endpoint)
			if err != nil {
				return err
			}
			if _, err := nc.QueueSubscribe("work", "workers", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
				return err
			}
			nc.Flush()
		}
		say("READY")
	default:
		return fmt.Errorf("no workers %q", role)
	}
	untilParentGoes()
	return nil
}
