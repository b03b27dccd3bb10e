package connection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/ratelog"
	"github.com/dividere-go/dividere/internal/zmtp"
)

// sock is Socket under a name of its own, so that the facades embed it
// (and offer its methods) without a public field: a facade is its small
// method set, not a Socket one can reach into.
type sock = Socket

// Socket is one open ZeroMQ socket, and what every kind of socket in this
// package can do: say its name and the endpoints it bound, count what it
// sent and received (Stats), wait for peers (WaitPeers), and close.
//
// A program does not make a Socket itself. Publisher, Subscriber, Dealer,
// Router and Response embed one, so these methods are theirs too; a
// Proxy's Frontend and Backend are Sockets, to watch either side of what
// it forwards. Every method may be called from any goroutine, on either
// engine (see Engine).
type Socket struct {
	// On the pure-Go engine the socket is goroutine-safe by itself and a
	// waiting call waits on a channel. On libzmq, whose sockets must not
	// be used by two threads at once, every libzmq call is made under mu,
	// and no goroutine blocks inside libzmq while holding it: see
	// socket_libzmq.go.

	zside              // the libzmq engine's state; empty on the Go engine
	g     *zmtp.Socket // the Go engine's socket; nil on libzmq

	mu     sync.Mutex // guards the facades' own state (and, on libzmq, every libzmq call)
	typ    zmtp.Type
	cfg    config
	name   string
	eps    []endpoint.Endpoint
	bound  []string
	closed atomic.Bool
	done   chan struct{}

	mon   *monitor
	warn  *ratelog.Limiter
	stats counters
	// A Publisher's hooks for a full subscriber queue: how long a send
	// waits for room (0: as long as its context allows), and what it does
	// when that passed (called with mu held; true: try once more). Only
	// a Publisher has sendStuck, and only its waits are counted.
	sendWait  time.Duration
	sendStuck func() bool
	// gwake wakes a Go-engine waiter in do whose condition another
	// goroutine may have changed (wakeReader).
	gwake chan struct{}
}

type counters struct {
	sent, received, sendErrors, recvErrors atomic.Uint64
	events, eventsDropped, authFailures    atomic.Uint64
	reattaches                             atomic.Uint64
	sendWaits, slowSubscribers             atomic.Uint64 // a Publisher's
}

// Stats is a snapshot of a socket's counters.
type Stats struct {
	Sent          uint64 // messages sent
	Received      uint64 // messages received
	SendErrors    uint64 // sends that failed (timeouts included)
	RecvErrors    uint64 // receives that failed (timeouts included)
	Events        uint64 // monitor events seen
	EventsDropped uint64 // events not delivered because the WithEvents channel was full
	AuthFailures  uint64 // peers refused by authentication (CURVE/ZAP)
	// Reattaches counts endpoints attached again after libzmq tore their
	// connection down for a protocol error (such as a frame over
	// WithMaxMessageSize) and would not have reconnected. The Go engine
	// reconnects by itself and never needs to.
	Reattaches uint64
	Peers      int // peers with a completed handshake, as far as the monitor knows
	// A Publisher's encounters with full subscriber queues (zero on any
	// other socket): SendWaits counts sends that waited for room, and
	// SlowSubscribers the times a queue stayed full past
	// WithSlowSubscriberWait, after which the Publisher dropped messages
	// for that subscriber for a while.
	SendWaits       uint64
	SlowSubscribers uint64
	// Engine is the engine's own account of what it dropped or refused,
	// with the reason; on the Go engine only (zero on libzmq, which
	// counts none of it).
	Engine EngineStats
}

// EngineStats is what the Go engine counts of a socket's traffic that
// libzmq does not: every message dropped, and why, and every peer
// refused.
type EngineStats struct {
	DroppedHWM           uint64 // sends dropped for a peer at its high-water mark (PUB, XPUB, ROUTER)
	DroppedNoPeer        uint64 // sends dropped with nobody to send to (PUB, ROUTER to an unknown identity)
	DroppedLost          uint64 // messages queued to a peer whose connection ended before they went out
	Discarded            uint64 // received messages thrown away as malformed for the socket type
	ProtocolErrors       uint64 // connections closed for breaking ZMTP
	HandshakeFailures    uint64 // connections that did not complete the handshake (HandshakesShed included)
	HandshakesShed       uint64 // accepted connections closed mid-handshake, oldest first, past 1024 handshakes at once
	SubscriptionsRefused uint64 // subscriptions refused over a per-peer bound
}

var socketSeq atomic.Uint64

// newSocket creates a socket of kind k, applies cfg and k's settings
// (which must precede bind/connect), starts the monitor and attaches
// every endpoint.
func newSocket(k kind, endpoints string, def endpoint.Role, cfg config) (*Socket, error) {
	eps, err := endpoint.Parse(endpoints, def)
	if err != nil {
		return nil, err
	}
	s, err := openSocket(k, cfg)
	if err != nil {
		return nil, err
	}
	s.eps = eps
	for _, ep := range eps {
		if err := s.attach(ep); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.g == nil {
		s.startLibzmq()
	}
	return s, nil
}

// openSocket creates and configures a socket without attaching it, on
// the process's engine.
func openSocket(k kind, cfg config) (*Socket, error) {
	if processEngineErr != nil {
		return nil, processEngineErr
	}
	s := &Socket{
		typ:  k.typ,
		cfg:  cfg,
		name: cfg.name,
		done: make(chan struct{}),
		warn: ratelog.Default(),
	}
	if s.name == "" {
		s.name = fmt.Sprintf("%s-%d", k.typ, socketSeq.Add(1))
	}
	if processEngine == engineGo {
		return s, s.openGo(k)
	}
	return s, s.openLibzmq(k)
}

func (s *Socket) attach(ep endpoint.Endpoint) error {
	if s.g != nil {
		return s.attachGo(ep)
	}
	return s.attachLibzmq(ep)
}

// Name is the socket's name in logs and events (WithName, or kind-number).
func (s *Socket) Name() string { return s.name }

// Endpoint returns the first endpoint the socket bound, in a form a local
// peer can connect to (a wildcard host becomes the loopback address, an
// OS-assigned port is filled in). It is "" for a socket that only
// connects.
func (s *Socket) Endpoint() string {
	if len(s.bound) == 0 {
		return ""
	}
	return connectable(s.bound[0])
}

// Endpoints returns every endpoint the socket bound, as the engine
// reports them.
func (s *Socket) Endpoints() []string { return append([]string(nil), s.bound...) }

// Port returns the TCP port of the first bound endpoint, or 0.
func (s *Socket) Port() int {
	_, port, err := endpoint.SplitHostPort(trimScheme(s.Endpoint()))
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscanf(port, "%d", &n)
	return n
}

// Stats returns a snapshot of the socket's counters.
func (s *Socket) Stats() Stats {
	st := Stats{
		Sent:            s.stats.sent.Load(),
		Received:        s.stats.received.Load(),
		SendErrors:      s.stats.sendErrors.Load(),
		RecvErrors:      s.stats.recvErrors.Load(),
		Events:          s.stats.events.Load(),
		EventsDropped:   s.stats.eventsDropped.Load(),
		AuthFailures:    s.stats.authFailures.Load(),
		Reattaches:      s.stats.reattaches.Load(),
		SendWaits:       s.stats.sendWaits.Load(),
		SlowSubscribers: s.stats.slowSubscribers.Load(),
	}
	if s.mon != nil {
		st.Peers = s.mon.peerCount()
	}
	if s.g != nil {
		e := s.g.Stats()
		st.Engine = EngineStats{
			DroppedHWM:           e.DroppedHWM,
			DroppedNoPeer:        e.DroppedNoPeer,
			DroppedLost:          e.DroppedLost,
			Discarded:            e.Discarded,
			ProtocolErrors:       e.ProtocolErrors,
			HandshakeFailures:    e.HandshakeFailures,
			HandshakesShed:       e.HandshakesShed,
			SubscriptionsRefused: e.SubscriptionsRefused,
		}
	}
	return st
}

// Close closes the socket. It never blocks on the network: goroutines
// waiting in the socket's calls return ErrClosed, unsent messages are
// handled by the linger setting in the background, and its bound ports
// are free again when Close returns. Close is idempotent.
func (s *Socket) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.done)
	if s.g != nil {
		return s.closeGo()
	}
	return s.closeLibzmq()
}

// isClosed reports whether Close has been called.
func (s *Socket) isClosed() bool { return s.closed.Load() }

// locked runs f with the socket's mutex held, unless the socket is
// closed: facades keep their own state under it.
func (s *Socket) locked(f func()) error {
	if s.g != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed.Load() {
			return ErrClosed
		}
		f()
		return nil
	}
	return s.lockedLibzmq(f)
}

// do runs try, which must not block and is called with the socket's
// mutex held, until it returns anything but errAgain, the context ends
// or the socket is closed. It is woken to try again when a message may
// have arrived, and by wakeReader.
func (s *Socket) do(ctx context.Context, try func() error) error {
	if s.g != nil {
		return s.doGo(ctx, try)
	}
	return s.doLibzmq(ctx, false, try)
}

// wakeReader makes the waiter in do, if any, try again. Facades call it
// when their own state changed in a way its condition depends on.
func (s *Socket) wakeReader() {
	if s.g != nil {
		select {
		case s.gwake <- struct{}{}:
		default:
		}
		return
	}
	s.wakeReaderLibzmq()
}

// ctxErr turns a finished context into the package's error: a deadline
// is ErrTimeout (and context.DeadlineExceeded), a cancel is
// context.Canceled.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	}
	return err
}

// send sends one message (all frames atomically).
func (s *Socket) send(ctx context.Context, frames [][]byte) error {
	return s.sendWith(ctx, frames, nil)
}

// sendWith is send with a hook run under the lock before each attempt,
// for facades with bookkeeping of their own.
func (s *Socket) sendWith(ctx context.Context, frames [][]byte, before func()) error {
	if len(frames) == 0 {
		return ErrEmpty
	}
	var err error
	if s.g != nil {
		err = s.sendGo(ctx, frames, before)
	} else {
		err = s.sendLibzmq(ctx, frames, before)
	}
	if err != nil {
		s.stats.sendErrors.Add(1)
		return s.mapErr("send", err)
	}
	s.stats.sent.Add(1)
	return nil
}

// sendWaitCtx counts a send that has to wait for room and bounds its
// wait by the Publisher's slow-subscriber wait, when there is one; the
// caller cancels it when done.
func (s *Socket) sendWaitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.sendStuck != nil {
		s.stats.sendWaits.Add(1)
	}
	if s.sendWait > 0 {
		return context.WithTimeout(ctx, s.sendWait)
	}
	return ctx, func() {}
}

// recv receives one whole message.
func (s *Socket) recv(ctx context.Context) (Message, error) {
	var msg Message
	var err error
	if s.g != nil {
		msg, _, err = s.recvGo(ctx, false)
	} else {
		msg, err = s.recvLibzmq(ctx)
	}
	if err != nil {
		s.stats.recvErrors.Add(1)
		return nil, s.mapErr("recv", err)
	}
	s.stats.received.Add(1)
	return msg, nil
}

// recvUser receives one message and the User-Id its peer was
// authenticated as (WithUserID; "" without authentication).
func (s *Socket) recvUser(ctx context.Context) (Message, string, error) {
	var msg Message
	var user string
	var err error
	if s.g != nil {
		msg, user, err = s.recvGo(ctx, true)
	} else {
		msg, user, err = s.recvUserLibzmq(ctx)
	}
	if err != nil {
		s.stats.recvErrors.Add(1)
		return nil, "", s.mapErr("recv", err)
	}
	s.stats.received.Add(1)
	return msg, user, nil
}

// recvView receives one message and returns what decode made of it. On
// libzmq the frames may point into the socket's receive buffer, which the
// next receive reuses, so decode must be done with them when it returns
// (a decoder that copies what it keeps); it saves a copy and an
// allocation per message.
func recvView[T any](s *Socket, ctx context.Context, decode func(Message) (T, error)) (v T, derr, err error) {
	if s.g != nil {
		var msg Message
		msg, _, err = s.recvGo(ctx, false)
		if err == nil {
			v, derr = decode(msg)
		}
	} else {
		v, derr, err = recvViewLibzmq(s, ctx, decode)
	}
	if err != nil {
		s.stats.recvErrors.Add(1)
		var zero T
		return zero, nil, s.mapErr("recv", err)
	}
	s.stats.received.Add(1)
	return v, derr, nil
}

// waitReadable blocks until a message can be received, without
// receiving it.
func (s *Socket) waitReadable(ctx context.Context) error {
	if s.g != nil {
		return s.mapErr("wait", s.goErr(ctx, s.g.WaitReadable(ctx)))
	}
	return s.waitReadableLibzmq(ctx)
}

// subscribe adds (on) or removes a SUB socket's topics.
func (s *Socket) subscribe(on bool, topics []string) error {
	if s.g != nil {
		for _, t := range topics {
			var err error
			if on {
				err = s.g.Subscribe([]byte(t))
			} else {
				err = s.g.Unsubscribe([]byte(t))
			}
			if err != nil {
				return s.goErr(context.Background(), err)
			}
		}
		return nil
	}
	return s.subscribeLibzmq(on, topics)
}

// tryNotice takes an XPUB's next subscription notice, without waiting;
// s.mu must be held.
func (s *Socket) tryNotice() ([]byte, bool) {
	if s.g != nil {
		m, err := s.g.TryRecv()
		if err != nil || len(m) == 0 {
			return nil, false
		}
		return m[0], true
	}
	return s.tryNoticeLibzmq()
}

// setNoDrop switches an XPUB between waiting for a full subscriber queue
// (on) and dropping for it; s.mu must be held.
func (s *Socket) setNoDrop(on bool) {
	if s.g != nil {
		s.g.SetXPubNoDrop(on)
		return
	}
	s.setNoDropLibzmq(on)
}

func (s *Socket) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: %w", s.name, op, err)
	}
	return fmt.Errorf("%s %w", s.name, engineErr(op, err))
}

// engineErr maps an engine's error to the package's sentinel errors,
// keeping the original in the chain.
func engineErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zmtp.ErrClosed):
		return fmt.Errorf("%s: %w", op, ErrClosed)
	case errors.Is(err, zmtp.ErrState):
		return fmt.Errorf("%s: %w: %w", op, ErrState, err)
	case errors.Is(err, zmtp.ErrHostUnreachable):
		return fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err)
	case errors.Is(err, zmtp.ErrAgain):
		return fmt.Errorf("%s: %w: %w", op, ErrTimeout, err)
	case errors.Is(err, zmtp.ErrEmpty):
		return fmt.Errorf("%s: %w", op, ErrEmpty)
	}
	return zmqErr(op, err)
}

// errAgain is what a non-blocking attempt returns to be retried when the
// socket signals.
var errAgain error = zmtp.ErrAgain

func isAgain(err error) bool {
	return err != nil && (errors.Is(err, zmtp.ErrAgain) || isLibzmqAgain(err))
}

func (s *Socket) log() *slog.Logger { return s.cfg.logger }

func trimScheme(ep string) string {
	for _, p := range []string{"tcp://", "ipc://", "inproc://"} {
		if len(ep) >= len(p) && ep[:len(p)] == p {
			return ep[len(p):]
		}
	}
	return ep
}
