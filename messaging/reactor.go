package messaging

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/lifecycle"
	"github.com/dividere-go/dividere/internal/msgserve"
	"github.com/dividere-go/dividere/internal/ratelog"
	"github.com/dividere-go/dividere/msglib"
)

// ErrNoReply is returned by Peer.Reply on an endpoint that cannot
// answer (a Subscriber), and by a second Reply to one request on a
// Response.
var ErrNoReply = errors.New("dividere: cannot reply here")

// Peer is who sent the message a handler is handling, and by which
// endpoint, and how to answer it.
type Peer interface {
	// Endpoint names the endpoint (its socket's Name).
	Endpoint() string
	// Route is the message's route: the identity frames it crossed
	// ROUTER sockets with (nil for a plain message); a reply sent with
	// it goes back to the sender.
	Route() [][]byte
	// Key is the public key the sender was authenticated with (a Response
	// or Router made With…ConnOptions(connection.WithUserID()) behind a
	// CURVE server); "" when unknown.
	Key() string
	// Reply sends m back, on a Router or Dealer along the route, as many
	// times as a conversation needs (once to a request on a Router made
	// with AnswerEveryRequest): for HandleMessage's handlers. On a
	// Response and a Subscriber it fails with ErrNoReply: a request is
	// answered with what a Handle handler returns.
	Reply(ctx context.Context, m proto.Message) error
}

// Endpoint is a messaging endpoint a Reactor can listen on: Subscriber,
// Response, Dealer or Router.
type Endpoint interface {
	reactorSource() endpointSource
}

type endpointSource struct {
	name  string
	core  *core
	recv  func(context.Context) (connection.Message, string, error)        // message and peer
	reply func(ctx context.Context, route [][]byte, m proto.Message) error // nil: cannot reply
	// strict: REP must answer before it can receive again, so its
	// receiver waits for each message to be handled.
	strict bool
	// answers: every message is a request owed one reply (a REP, or a
	// Router made with AnswerEveryRequest): one that cannot be decoded or
	// that its handler leaves unanswered gets ack{ok: false}.
	answers bool
	// shutdown: a ShutdownEvent arriving here stops the reactor
	// (WithShutdownFrom); anywhere else it is ignored.
	shutdown bool
}

func (s *Subscriber) reactorSource() endpointSource {
	return endpointSource{name: s.Name(), core: &s.core, recv: anonymous(s.sub.Recv)}
}

// A reactor's replies carry no header: the handler's context has the
// request's deadline, which is no business of the reply's.

func (r *Response) reactorSource() endpointSource {
	return endpointSource{name: r.Name(), core: &r.core, recv: r.rep.RecvUser, strict: true, answers: true,
		reply: func(ctx context.Context, _ [][]byte, m proto.Message) error { return r.Send(ctx, m) }}
}

func (d *Dealer) reactorSource() endpointSource {
	return endpointSource{name: d.Name(), core: &d.core, recv: anonymous(d.d.Recv),
		reply: func(ctx context.Context, route [][]byte, m proto.Message) error {
			return d.sendRouted(ctx, route, m, stampNone)
		}}
}

func (r *Router) reactorSource() endpointSource {
	return endpointSource{name: r.Name(), core: &r.core, recv: r.r.RecvUser, answers: r.answerAll,
		reply: func(ctx context.Context, route [][]byte, m proto.Message) error {
			return r.sendRouted(ctx, route, m, stampNone)
		}}
}

// anonymous adapts a receive that does not know the peer.
func anonymous(recv func(context.Context) (connection.Message, error)) func(context.Context) (connection.Message, string, error) {
	return func(ctx context.Context) (connection.Message, string, error) {
		m, err := recv(ctx)
		return m, "", err
	}
}

// HandlerFunc handles one message of any type: what a middleware
// (WithMiddleware) wraps. Handle adapts typed handlers to it.
type HandlerFunc func(ctx context.Context, m proto.Message, from Peer) error

// Reactor listens on any number of endpoints at once and hands each
// message to the handler registered for its type: the original's
// MsgReactor, with typed handlers instead of method names built from
// strings. Each endpoint's receiver parks in Go's network poller (one
// epoll for the whole process), so an idle reactor uses no CPU and a
// message is dispatched the moment it arrives.
//
// Handlers run one at a time by default, in arrival order, on the
// goroutine that received the message (no hand-off, so no added latency).
// WithWorkers(n) runs them on n goroutines, to use more
// cores (the original needed another process for that); a Response
// endpoint still answers each request before taking the next, and
// replies on Router and Dealer endpoints follow each message's route.
type Reactor struct {
	log      *slog.Logger
	workers  int
	idle     time.Duration
	idleFn   func(context.Context)
	observe  func(protoreflect.FullName, time.Duration, error)
	handlers *Mux
	mw       []func(HandlerFunc) HandlerFunc
	dispatch HandlerFunc // the middleware and the Mux, built at Serve
	// For Answer: the chain built once, and the
	// codec and counters of the requests it hands over.
	bridge     sync.Once
	bridgeCore core
	limit      time.Duration // WithHandlerTimeout
	hide       bool          // WithHiddenErrors
	sources    []endpointSource
	warn       *ratelog.Limiter
	// shutdownFrom are the endpoints a ShutdownEvent may stop the
	// reactor from, by their cores (unique per endpoint).
	shutdownFrom []*core

	mu      sync.Mutex // guards the fields above once Serve may have started
	running bool
	life    *lifecycle.State
	// serial is held while a handler or the idle hook runs when there is
	// one worker: receivers then run handlers themselves, one at a time,
	// with no hand-off between goroutines on the way.
	serial     sync.Mutex
	lastActive atomic.Int64 // UnixNano of the last handler call

	received, handled, unhandled, failed, panics, unanswered, dropped, refused, shutdownsIgnored, expired atomic.Uint64
}

// NewReactor creates a Reactor listening on endpoints (none for one that
// only Answers); Handle registers handlers, before Serve.
func NewReactor(endpoints []Endpoint, opts ...ReactorOption) *Reactor {
	c := newConfig(opts, ReactorOption.applyReactor)
	r := &Reactor{
		log:      c.logger,
		workers:  1,
		handlers: NewMux(),
		life:     lifecycle.New(),
		warn:     ratelog.Default(),
	}
	for _, o := range c.reactor {
		o(r)
	}
	for _, e := range endpoints {
		src := e.reactorSource()
		src.shutdown = slices.Contains(r.shutdownFrom, src.core)
		r.sources = append(r.sources, src)
	}
	return r
}

func (r *Reactor) mustNotRun(what string) {
	if r.running {
		panic("messaging: Reactor." + what + " after Serve")
	}
}

// Mux returns the reactor's handlers, for Handle; it panics once Serve has
// started.
func (r *Reactor) Mux() *Mux {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustNotRun("Handle")
	return r.handlers
}

// ReactorStats counts what a Reactor did.
type ReactorStats struct {
	Received   uint64 // messages received and decoded
	Handled    uint64 // handler calls that returned nil
	Unhandled  uint64 // messages of a type with no handler and no default
	Failed     uint64 // handler calls that returned an error
	Panics     uint64 // handler calls that panicked (also counted in Failed)
	Unanswered uint64 // requests on a Response a handler did not reply to (answered with ack{ok: false})
	Dropped    uint64 // messages received but not handled because the reactor stopped
	// Refused counts requests answered ack{ok: false} without a handler's
	// answer: undecodable, of a type nobody handles, a handler that
	// failed or did not reply, or an ignored ShutdownEvent.
	Refused uint64
	// ShutdownsIgnored counts ShutdownEvents that arrived on an endpoint
	// not named by WithShutdownFrom, and so stopped nothing.
	ShutdownsIgnored uint64
	// Expired counts requests whose requester's deadline had passed
	// before a handler was free: answered DEADLINE_EXCEEDED, not handled.
	Expired uint64
}

// Stats returns the reactor's counters. Decode errors are counted by each
// endpoint (MessageStats).
func (r *Reactor) Stats() ReactorStats {
	return ReactorStats{
		Received: r.received.Load(), Handled: r.handled.Load(), Unhandled: r.unhandled.Load(),
		Failed: r.failed.Load(), Panics: r.panics.Load(), Unanswered: r.unanswered.Load(),
		Dropped: r.dropped.Load(), Refused: r.refused.Load(), ShutdownsIgnored: r.shutdownsIgnored.Load(),
		Expired: r.expired.Load(),
	}
}

// job is one message to handle.
type job struct {
	msg      proto.Message
	hdr      *Header   // nil when none, or only a sequence number
	deadline time.Time // the requester's, from hdr.timeout_us; zero when none
	src      *source
	done     chan struct{} // closed when handled, for strict endpoints
}

// source is the Peer of one message.
type source struct {
	ep      *endpointSource
	route   [][]byte
	peer    string
	replied atomic.Bool
}

func (s *source) Endpoint() string { return s.ep.name }
func (s *source) Key() string      { return s.peer }
func (s *source) Route() [][]byte  { return s.route }
func (s *source) Reply(ctx context.Context, m proto.Message) error {
	if s.ep.strict {
		return fmt.Errorf("%s: %w: a Response answers a request with what its Handle handler returns", s.ep.name, ErrNoReply)
	}
	return s.answer(ctx, m)
}

// answer sends m back: the one reply to a request (what Handle's
// handlers return, and refusals), or one more message of a conversation.
func (s *source) answer(ctx context.Context, m proto.Message) error {
	if s.ep.reply == nil {
		return fmt.Errorf("%s: %w (a subscriber has no one to answer)", s.ep.name, ErrNoReply)
	}
	if s.ep.answers && !s.replied.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: %w: already replied to this request", s.ep.name, ErrNoReply)
	}
	return s.ep.reply(ctx, s.route, m)
}

var shutdownName = (&msglib.ShutdownEvent{}).ProtoReflect().Descriptor().FullName()

// Serve listens and dispatches until ctx ends (returning ctx's error),
// Shutdown or Close is called, or a ShutdownEvent arrives on an endpoint
// named by WithShutdownFrom (returning connection.ErrServerClosed), or an
// endpoint is closed under it (returning an error wrapping
// connection.ErrClosed that names the endpoint). It returns when every
// handler has returned. A Reactor serves once. The endpoints stay open:
// they belong to the caller.
func (r *Reactor) Serve(ctx context.Context) error {
	if err := r.life.Begin(); err != nil {
		return err
	}
	defer r.life.End()
	r.mu.Lock()
	r.running = true
	r.buildChain()
	r.mu.Unlock()

	// Handlers run under runCtx, which Close and ctx end; receivers and
	// the idle hook under recvCtx, which Shutdown ends too.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	recvCtx, stopReceiving := context.WithCancel(runCtx)
	defer stopReceiving()
	go func() {
		select {
		case <-r.life.Killed():
			cancel()
		case <-runCtx.Done():
		}
	}()
	r.lastActive.Store(time.Now().UnixNano())

	var q *queues // only with several workers
	var working, receiving sync.WaitGroup
	if r.workers > 1 {
		q = &queues{shared: make(chan job, 1024), lanes: make([]chan job, r.workers)}
		for i := range r.workers {
			lane := make(chan job, 64)
			q.lanes[i] = lane
			working.Add(1)
			go func() {
				defer working.Done()
				r.work(runCtx, q.shared, lane)
			}()
		}
	}
	lost := make(chan error, len(r.sources))
	for i := range r.sources {
		receiving.Add(1)
		go func(ep *endpointSource) {
			defer receiving.Done()
			if err := r.receive(recvCtx, runCtx, ep, q); err != nil {
				lost <- err
			}
		}(&r.sources[i])
	}
	if r.idle > 0 && r.idleFn != nil {
		receiving.Add(1)
		go func() {
			defer receiving.Done()
			r.idleLoop(recvCtx)
		}()
	}

	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-r.life.ShuttingDown(): // Close too
		err = connection.ErrServerClosed
	case err = <-lost:
		r.log.Error("reactor stopped: an endpoint was closed under it", "err", err)
		cancel()
	}
	stopReceiving()
	receiving.Wait()
	if q != nil {
		// The receivers are gone: the workers finish what is queued
		// (unless Close or ctx ends their context first) and return.
		for _, ch := range append(q.lanes, q.shared) {
			close(ch)
		}
		working.Wait()
		for _, ch := range append(q.lanes, q.shared) {
			for j := range ch {
				r.drop(j)
			}
		}
	}
	return err
}

// work is one worker: it handles jobs from shared and from its lane until
// both are closed and empty, or ctx ends.
func (r *Reactor) work(ctx context.Context, shared, lane chan job) {
	for shared != nil || lane != nil {
		select {
		case j, ok := <-shared:
			if !ok {
				shared = nil
				continue
			}
			r.handle(ctx, j)
		case j, ok := <-lane:
			if !ok {
				lane = nil
				continue
			}
			r.handle(ctx, j)
		case <-ctx.Done():
			return
		}
	}
}

// queues hand jobs to the workers: any worker takes from shared; a
// Router that answers every request hands each peer's requests to one
// worker's lane, so that they are handled in the order they came, as a
// REP would (requests of different peers still run at once).
type queues struct {
	shared chan job
	lanes  []chan job
}

// of returns the queue for j.
func (q *queues) of(j job) chan job {
	if !j.src.ep.answers || j.src.ep.strict || len(j.src.route) == 0 {
		return q.shared
	}
	h := fnv.New32a()
	h.Write(j.src.route[0]) // the peer's identity
	return q.lanes[h.Sum32()%uint32(len(q.lanes))]
}

func (r *Reactor) drop(j job) {
	r.dropped.Add(1)
	if j.done != nil {
		close(j.done)
	}
}

// receive is one endpoint's receiver. It returns nil when ctx ends, and
// an error when its endpoint was closed under it. Handlers and replies
// run under hctx, which outlives ctx at Shutdown.
func (r *Reactor) receive(ctx, hctx context.Context, ep *endpointSource, q *queues) error {
	for {
		raw, peer, err := ep.recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, connection.ErrClosed) {
				return fmt.Errorf("messaging: reactor endpoint %s: %w", ep.name, err)
			}
			r.warn.Warn(r.log, "reactor receive failed", "endpoint", ep.name, "err", err)
			continue
		}
		m, hdrBytes, err := ep.core.decode(ep.name, raw.Payload())
		if err != nil {
			if ep.answers { // and a REP must, before it can receive again
				r.refused.Add(1)
				r.observeRefused("", err)
				ep.reply(hctx, raw.Route(), ackFor(err))
			}
			continue
		}
		r.received.Add(1)
		j := r.jobOf(ep, m, hdrBytes, raw.Route(), peer)
		if q == nil {
			r.serial.Lock()
			r.handle(hctx, j)
			r.serial.Unlock()
			continue
		}
		if ep.strict {
			j.done = make(chan struct{})
		}
		select {
		case q.of(j) <- j:
		case <-ctx.Done():
			r.dropped.Add(1)
			return nil
		}
		if j.done != nil {
			select {
			case <-j.done:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// jobOf is the job of message m received on ep with the header hdrBytes.
func (r *Reactor) jobOf(ep *endpointSource, m proto.Message, hdrBytes []byte, route [][]byte, peer string) job {
	j := job{msg: m, src: &source{ep: ep, route: route, peer: peer}}
	if keepHeader(hdrBytes) {
		var err error
		if j.hdr, err = parseHeader(hdrBytes); err != nil {
			r.warn.Warn(r.log, "header not understood: ignored", "endpoint", ep.name, "err", err)
		} else {
			j.deadline, _ = msgserve.Deadline(j.hdr, time.Now())
		}
	}
	return j
}

// Answer handles one request that came by other means than the
// Reactor's endpoints (a patterns.MsgWorker's, from its brokers), by the
// rules its endpoints' requests are handled by: the header's deadline
// and metadata reach the handler, middleware and observers run, and the
// request gets one reply or a refusal with its code. payload is the
// request's envelope, route its routing frames (handed to the handler's
// Peer), and reply sends an encoded envelope back. It returns the
// handler's error, or why no answer could be sent. The Reactor need not
// be serving; its handlers must be registered first.
func (r *Reactor) Answer(ctx context.Context, route [][]byte, payload []byte, reply func([]byte) error) error {
	r.bridge.Do(func() {
		r.mu.Lock()
		r.buildChain()
		r.mu.Unlock()
		r.bridgeCore = newCore(config{logger: r.log})
	})
	ep := &endpointSource{name: "broker", core: &r.bridgeCore, answers: true,
		reply: func(_ context.Context, _ [][]byte, m proto.Message) error {
			b, err := r.bridgeCore.codec.appendEncode(nil, m, nil)
			if err != nil {
				return err
			}
			return reply(b)
		}}
	m, hdrBytes, err := ep.core.decode(ep.name, payload)
	if err != nil {
		r.refused.Add(1)
		r.observeRefused("", err)
		if rerr := ep.reply(ctx, route, ackFor(err)); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	r.received.Add(1)
	return r.handle(ctx, r.jobOf(ep, m, hdrBytes, route, ""))
}

// handle runs the handler for one job; panics are recovered and counted.
// It returns the handler's error (or the refusal's, when it could not be
// sent).
func (r *Reactor) handle(ctx context.Context, j job) (failure error) {
	if j.done != nil {
		defer close(j.done)
	}
	if ctx.Err() != nil { // stopping: queued messages are not handled
		r.dropped.Add(1)
		return ctx.Err()
	}
	defer r.lastActive.Store(time.Now().UnixNano())
	name := j.msg.ProtoReflect().Descriptor().FullName()
	if !j.deadline.IsZero() && j.src.ep.answers && !time.Now().Before(j.deadline) {
		// The requester has given up: the work would be wasted.
		r.expired.Add(1)
		r.refused.Add(1)
		r.observeRefused(name, context.DeadlineExceeded)
		late := Errorf(DeadlineExceeded, "the requester's deadline passed before a handler was free")
		if err := j.src.answer(ctx, ackFor(late)); err != nil {
			return errors.Join(late, err)
		}
		return late
	}
	hctx := ctx
	if j.hdr != nil {
		hctx = context.WithValue(ctx, incomingKey{}, j.hdr)
		if !j.deadline.IsZero() {
			var cancel context.CancelFunc
			hctx, cancel = context.WithDeadline(hctx, j.deadline)
			defer cancel()
		}
	}
	if r.limit > 0 { // the earlier of the two deadlines wins
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(hctx, r.limit)
		defer cancel()
	}
	start := time.Now()
	err := r.dispatch(hctx, j.msg, j.src)
	handled := !errors.Is(err, errNoHandler)
	if r.observe != nil && handled {
		r.observe(name, time.Since(start), err)
	}
	shutdown := name == shutdownName
	switch {
	case errors.Is(err, errHandlerPanic):
		r.panics.Add(1)
		r.failed.Add(1)
		r.warn.Log(r.log, slog.LevelError, "handler panicked", "type", name, "endpoint", j.src.ep.name, "err", err)
	case !handled:
		if !shutdown {
			r.unhandled.Add(1)
			r.log.Debug("no handler", "type", name, "endpoint", j.src.ep.name)
		}
	case err != nil:
		r.failed.Add(1)
		r.warn.Warn(r.log, "handler failed", "type", name, "endpoint", j.src.ep.name, "err", err)
	default:
		r.handled.Add(1)
	}
	if shutdown && !j.src.ep.shutdown {
		r.shutdownsIgnored.Add(1)
		r.warn.Warn(r.log, "ShutdownEvent from a peer ignored (see messaging.WithShutdownFrom)",
			"endpoint", j.src.ep.name, "peer", j.src.peer)
		if !handled {
			err = Errorf(PermissionDenied, "a ShutdownEvent from a peer stops nothing")
		}
	}
	if j.src.ep.answers && !j.src.replied.Load() {
		// The requester would wait forever (and a REP socket could not
		// receive again): answer for the handler.
		r.refused.Add(1)
		if handled {
			r.unanswered.Add(1)
		}
		if err == nil && handled {
			r.warn.Warn(r.log, "handler did not reply to a request; answered INTERNAL", "type", name, "endpoint", j.src.ep.name)
		}
		if !handled {
			r.observeRefused(name, err)
		}
		refusal := err
		if r.hide {
			refusal = hideText(err)
		}
		if rerr := j.src.answer(ctx, ackFor(refusal)); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if shutdown && j.src.ep.shutdown {
		r.life.Stop()
	}
	return err
}

// errNoHandler is what the innermost handler returns for a type nobody
// handles; middleware may wrap it.
var errNoHandler = fmt.Errorf("%w", errUnhandled)

// buildChain composes the middleware around the Mux, once, at Run.
func (r *Reactor) buildChain() {
	h := HandlerFunc(func(ctx context.Context, msg proto.Message, from Peer) error {
		handled, err := r.handlers.dispatch(ctx, msg, from)
		if !handled {
			return fmt.Errorf("%w: %s", errNoHandler, msg.ProtoReflect().Descriptor().FullName())
		}
		return err
	})
	for i := len(r.mw) - 1; i >= 0; i-- {
		h = r.mw[i](h)
	}
	if len(r.mw) > 0 { // a middleware's panic is a handler's panic
		inner := h
		h = func(ctx context.Context, msg proto.Message, from Peer) error {
			return protect(func() error { return inner(ctx, msg, from) })
		}
	}
	r.dispatch = h
}

// errUnhandled is what an observer (WithObserver) is told of a request
// of a type no handler takes (CodeOf: Unimplemented).
var errUnhandled = errors.New("dividere: no handler for this type")

// observeRefused tells the observer of a request refused before any
// handler ran (typ is empty when it could not be decoded).
func (r *Reactor) observeRefused(typ protoreflect.FullName, err error) {
	if r.observe != nil {
		r.observe(typ, 0, err)
	}
}

func (r *Reactor) idleLoop(ctx context.Context) {
	t := time.NewTimer(r.idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if quiet := time.Since(time.Unix(0, r.lastActive.Load())); quiet < r.idle {
			t.Reset(r.idle - quiet)
			continue
		}
		if r.workers == 1 {
			r.serial.Lock()
		}
		if err := protect(func() error { r.idleFn(ctx); return nil }); err != nil {
			r.panics.Add(1)
			r.log.Error("idle hook panicked", "err", err)
		}
		if r.workers == 1 {
			r.serial.Unlock()
		}
		r.lastActive.Store(time.Now().UnixNano())
		t.Reset(r.idle)
	}
}

// Shutdown stops receiving, lets the handlers in progress and the
// messages already queued for them finish, and waits until Serve has
// returned or ctx ends (then it closes at once and returns ctx's error).
func (r *Reactor) Shutdown(ctx context.Context) error {
	_, err := r.life.Shutdown(ctx)
	return err
}

// Close stops the reactor at once: the handlers' contexts end, queued
// messages are dropped (counted in Dropped), and Serve returns when the
// handlers have.
func (r *Reactor) Close() error {
	r.life.Close()
	return nil
}
