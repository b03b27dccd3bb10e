package zmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/internal/zmtptest"
)

// The conformance matrix: this engine's sockets against libzmq's, through
// pyzmq and Node's zeromq (zmqpeer_test.go), both ways round (which side
// is which socket type, which side binds), over tcp and ipc.

// side is one end of a conversation, a socket of ours or a libzmq peer,
// so that a scenario is written once for both.
type side interface {
	name() string
	send(msg [][]byte) error
	recv(timeout time.Duration) ([][]byte, error)
	subscribe(topic string)
	unsubscribe(topic string)
}

type goSide struct {
	t *testing.T
	s *Socket
}

func (g goSide) name() string { return "go " + g.s.typ.String() }

func (g goSide) send(msg [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	return g.s.Send(ctx, msg)
}

func (g goSide) recv(timeout time.Duration) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return g.s.Recv(ctx)
}

func (g goSide) subscribe(topic string) {
	if err := g.s.Subscribe([]byte(topic)); err != nil {
		g.t.Fatal(err)
	}
}

func (g goSide) unsubscribe(topic string) {
	if err := g.s.Unsubscribe([]byte(topic)); err != nil {
		g.t.Fatal(err)
	}
}

type libzmqSide struct{ p *zmqPeer }

func (l libzmqSide) name() string                                 { return l.p.impl.name + " " + l.p.typ.String() }
func (l libzmqSide) send(msg [][]byte) error                      { return l.p.send(msg, stepTimeout) }
func (l libzmqSide) recv(timeout time.Duration) ([][]byte, error) { return l.p.recv(timeout) }
func (l libzmqSide) subscribe(topic string)                       { l.p.subscribe(topic) }
func (l libzmqSide) unsubscribe(topic string)                     { l.p.unsubscribe(topic) }

func mustSend(t *testing.T, s side, msg ...string) {
	t.Helper()
	if err := s.send(frames(msg...)); err != nil {
		t.Fatalf("%s send %q: %v", s.name(), msg, err)
	}
}

// expect receives one message and checks it is want.
func expect(t *testing.T, s side, want ...string) {
	t.Helper()
	expectFrames(t, s, frames(want...))
}

// stepTimeout bounds one send or receive of the matrix: generous, since
// a 10 MiB frame through a peer process on a loaded 2-core machine takes
// seconds, and a bound only, never a speed goal.
const stepTimeout = 20 * time.Second

func expectFrames(t *testing.T, s side, want [][]byte) [][]byte {
	t.Helper()
	m, err := s.recv(stepTimeout)
	if err != nil {
		t.Fatalf("%s recv: %v", s.name(), err)
	}
	if !sameFrames(m, want) {
		t.Fatalf("%s got %s, want %s", s.name(), show(m), show(want))
	}
	return m
}

// expectSkipping is expect, passing over messages whose first frame is
// skip.
func expectSkipping(t *testing.T, s side, skip string, want ...string) {
	t.Helper()
	for {
		m := expectAny(t, s)
		if string(m[0]) == skip {
			continue
		}
		if !eq(m, want...) {
			t.Fatalf("%s got %s, want %q", s.name(), show(m), want)
		}
		return
	}
}

func sameFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) > 0 && len(a[i]) == len(b[i]) && &a[i][0] == &b[i][0] {
			continue // the same bytes: a pattern the peer's digest matched
		}
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// show prints frames, long ones by their length.
func show(m [][]byte) string {
	var parts []string
	for _, f := range m {
		if len(f) > 32 {
			parts = append(parts, fmt.Sprintf("<%d bytes>", len(f)))
		} else {
			parts = append(parts, fmt.Sprintf("%q", f))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// sendUntil sends (with send) until recv on to gets a message whose
// first frame is want: a subscription takes a while to reach a
// publisher, and what is published before is lost.
func sendUntil(t *testing.T, to side, want string, send func()) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		send()
		for {
			m, err := to.recv(50 * time.Millisecond)
			if err != nil {
				break
			}
			if string(m[0]) == want {
				return
			}
		}
	}
	t.Fatalf("%s never got %q", to.name(), want)
}

// role is one socket of a scenario, with its options in both engines.
type role struct {
	typ     Type
	goOpt   Options
	peerOpt peerOpts
}

type scenario struct {
	name string
	a, b role
	run  func(t *testing.T, a, b side)
}

var scenarios = []scenario{
	{
		name: "pub-sub",
		a:    role{typ: PUB}, b: role{typ: SUB},
		run: func(t *testing.T, pub, sub side) {
			sub.subscribe("a.")
			sendUntil(t, sub, "a.join", func() { mustSend(t, pub, "a.join") })
			for _, topic := range []string{"b.1", "a.1", "a", "a.2"} {
				mustSend(t, pub, topic, "x")
			}
			for _, want := range []string{"a.1", "a.2"} {
				for {
					m := expectAny(t, sub)
					if string(m[0]) == "a.join" {
						continue
					}
					if !eq(m, want, "x") {
						t.Fatalf("%s got %s, want %q", sub.name(), show(m), want)
					}
					break
				}
			}
			// Once "c." is in, "a." is out: they were sent in that order.
			sub.unsubscribe("a.")
			sub.subscribe("c.")
			sendUntil(t, sub, "c.mark", func() { mustSend(t, pub, "a.after"); mustSend(t, pub, "c.mark") })
			mustSend(t, pub, "a.late")
			mustSend(t, pub, "c.end")
			for {
				m := expectAny(t, sub)
				if string(m[0]) == "c.end" {
					break
				}
				if string(m[0]) != "c.mark" {
					t.Fatalf("%s got %s after unsubscribing", sub.name(), show(m))
				}
			}
		},
	},
	{
		name: "xpub-xsub",
		a:    role{typ: XPUB}, b: role{typ: XSUB},
		run: func(t *testing.T, xpub, xsub side) {
			// An XSUB drops what it sends while it has no publisher, and a
			// libzmq XSUB that binds may not pass its subscriptions to a
			// publisher that connects until it sends again: it starts once
			// both are known to be connected.
			sendUntil(t, xpub, "hello", func() { mustSend(t, xsub, "hello", "upstream") })
			mustSend(t, xsub, "\x01a.")
			expectSkipping(t, xpub, "hello", "\x01a.")
			mustSend(t, xpub, "a.1")
			mustSend(t, xpub, "b.1")
			mustSend(t, xpub, "a.2", "more")
			expect(t, xsub, "a.1")
			expect(t, xsub, "a.2", "more")
			mustSend(t, xsub, "up", "stream")
			expect(t, xpub, "up", "stream")
			mustSend(t, xsub, "\x00a.")
			expect(t, xpub, "\x00a.")
			mustSend(t, xsub, "\x01c.")
			expect(t, xpub, "\x01c.")
			mustSend(t, xpub, "a.3")
			mustSend(t, xpub, "c.1")
			expect(t, xsub, "c.1")
		},
	},
	{
		name: "req-rep",
		a:    role{typ: REQ}, b: role{typ: REP},
		run: func(t *testing.T, req, rep side) {
			for i := 0; i < 3; i++ {
				n := fmt.Sprint(i)
				mustSend(t, req, "hello", n)
				expect(t, rep, "hello", n)
				mustSend(t, rep, "world", n)
				expect(t, req, "world", n)
			}
			// Empty frames in the body are the body's, not the envelope's.
			mustSend(t, req, "", "body", "")
			expect(t, rep, "", "body", "")
			mustSend(t, rep, "", "")
			expect(t, req, "", "")
		},
	},
	{
		name: "dealer-router",
		a:    role{typ: DEALER, goOpt: Options{Identity: []byte("d1")}, peerOpt: peerOpts{"identity": []byte("d1")}},
		b:    role{typ: ROUTER, goOpt: Options{RouterMandatory: true}, peerOpt: peerOpts{"routing_mandatory": true}},
		run: func(t *testing.T, dealer, router side) {
			msgs := [][][]byte{
				{{}},
				frames("a", "", "b"),
				{pattern(255)},
				{pattern(256)},
				{{}, pattern(255), pattern(256), []byte("x")},
				{pattern(10 << 20)},
			}
			for _, m := range msgs {
				if err := dealer.send(m); err != nil {
					t.Fatalf("%s send: %v", dealer.name(), err)
				}
				got := expectFrames(t, router, append(frames("d1"), m...))
				if err := router.send(got); err != nil {
					t.Fatalf("%s send: %v", router.name(), err)
				}
				expectFrames(t, dealer, m)
			}
			err := router.send(frames("nobody", "x"))
			if !errors.Is(err, ErrHostUnreachable) && !errors.Is(err, &peerError{Code: "EHOSTUNREACH"}) {
				t.Fatalf("%s send to an unknown identity with mandatory routing: %v", router.name(), err)
			}
		},
	},
	{
		name: "push-pull",
		a:    role{typ: PUSH}, b: role{typ: PULL},
		run: func(t *testing.T, push, pull side) {
			const n = 50
			for i := 0; i < n; i++ {
				mustSend(t, push, "m", fmt.Sprint(i))
			}
			mustSend(t, push, "", "")
			for i := 0; i < n; i++ {
				expect(t, pull, "m", fmt.Sprint(i))
			}
			expect(t, pull, "", "")
		},
	},
}

func expectAny(t *testing.T, s side) [][]byte {
	t.Helper()
	m, err := s.recv(stepTimeout)
	if err != nil {
		t.Fatalf("%s recv: %v", s.name(), err)
	}
	return m
}

// bindAddr is an endpoint to bind on for transport tr: for tcp the
// engine's syntax for "any port" (ours 0, libzmq's *), for ipc a file in
// dir.
func bindAddr(tr, dir string, ours bool) string {
	if tr == "ipc" {
		return "ipc://" + filepath.Join(dir, "s")
	}
	if ours {
		return "tcp://127.0.0.1:0"
	}
	return "tcp://127.0.0.1:*"
}

// link binds one of g and p and connects the other to it, and returns
// the endpoint.
func link(t *testing.T, g *Socket, p *zmqPeer, tr string, goBinds bool) string {
	t.Helper()
	dir := shortDir(t)
	if goBinds {
		ep, err := g.Bind(bindAddr(tr, dir, true))
		if err != nil {
			t.Fatal(err)
		}
		p.connect(ep)
		return ep
	}
	ep := p.bind(bindAddr(tr, dir, false))
	if err := g.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func TestConformance(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		for _, tr := range []string{"tcp", "ipc"} {
			for _, sc := range scenarios {
				for _, goRole := range []int{0, 1} {
					for _, goBinds := range []bool{true, false} {
						roles := [2]role{sc.a, sc.b}
						ours, theirs := roles[goRole], roles[1-goRole]
						how := "connects"
						if goBinds {
							how = "binds"
						}
						name := fmt.Sprintf("%s/%s/go-%s-%s", tr, sc.name, ours.typ, how)
						run(name, func(t *testing.T) {
							g := newSock(t, ours.typ, ours.goOpt)
							p := startPeer(t, impl, theirs.typ, theirs.peerOpt)
							link(t, g, p, tr, goBinds)
							sides := [2]side{}
							sides[goRole] = goSide{t, g}
							sides[1-goRole] = libzmqSide{p}
							sc.run(t, sides[0], sides[1])
						})
					}
				}
			}
		}
	})
}

// eventLog keeps a socket's events for a test to wait on.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	wake   chan struct{}
}

func newEventLog() *eventLog { return &eventLog{wake: make(chan struct{}, 1)} }

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	signal(l.wake)
}

func (l *eventLog) count(kind EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// waitFor waits until an event matches, and returns it.
func (l *eventLog) waitFor(t *testing.T, d time.Duration, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for seen := 0; ; {
		l.mu.Lock()
		evs := l.events[seen:]
		seen = len(l.events)
		l.mu.Unlock()
		for _, e := range evs {
			if match(e) {
				return e
			}
		}
		select {
		case <-l.wake:
		case <-deadline.C:
			t.Fatalf("no %s event within %v", what, d)
		}
	}
}

// quietWithin fails if an event matches within d: the test's subject is
// that nothing happens for that long.
func (l *eventLog) quietWithin(t *testing.T, d time.Duration, what string, match func(Event) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for seen := 0; ; {
		l.mu.Lock()
		evs := l.events[seen:]
		seen = len(l.events)
		l.mu.Unlock()
		for _, e := range evs {
			if match(e) {
				t.Fatalf("%s: %v (%v)", what, e.Kind, e.Err)
			}
		}
		select {
		case <-l.wake:
		case <-deadline.C:
			return
		}
	}
}

// peerTTL is the TTL the first peer of s asked for in its PINGs.
func peerTTL(s *Socket) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p.conn != nil {
			return time.Duration(p.conn.peerTTL.Load())
		}
	}
	return 0
}

func isKind(k EventKind) func(Event) bool { return func(e Event) bool { return e.Kind == k } }

// TestConformanceHeartbeats: a libzmq peer that pings us is answered, so
// the connection outlives its heartbeat timeout; a libzmq peer answers
// our pings likewise; a peer gone silent (its process stopped) is
// dropped, by our own timeout or by the TTL the peer asked for.
func TestConformanceHeartbeats(t *testing.T) {
	const ivl, timeout = 50 * time.Millisecond, 250 * time.Millisecond
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	cases := []struct {
		name    string
		goOpt   Options
		peerOpt peerOpts
		silent  bool // stop the peer: the connection must be dropped
	}{
		{"peer-pings", Options{}, peerOpts{"heartbeat_ivl": ms(ivl), "heartbeat_timeout": ms(timeout)}, false},
		{"go-pings", Options{HeartbeatInterval: ivl, HeartbeatTimeout: timeout}, nil, false},
		{"both-ping", Options{HeartbeatInterval: ivl, HeartbeatTimeout: timeout},
			peerOpts{"heartbeat_ivl": ms(ivl), "heartbeat_timeout": ms(timeout)}, false},
		{"go-drops-silent-peer", Options{HeartbeatInterval: ivl, HeartbeatTimeout: timeout}, nil, true},
		{"peer-ttl-drops-it", Options{}, peerOpts{"heartbeat_ivl": ms(ivl), "heartbeat_ttl": 300, "heartbeat_timeout": 30000}, true},
	}
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		for _, c := range cases {
			for _, goBinds := range []bool{true, false} {
				name := c.name + "/go-connects"
				if goBinds {
					name = c.name + "/go-binds"
				}
				run(name, func(t *testing.T) {
					log := newEventLog()
					opt := c.goOpt
					opt.Events = log.add
					g := newSock(t, PULL, opt)
					p := startPeer(t, impl, PUSH, c.peerOpt)
					link(t, g, p, "tcp", goBinds)
					pull := goSide{t, g}
					mustSend(t, libzmqSide{p}, "hello")
					expect(t, pull, "hello")
					down := isKind(EventDisconnected)
					if c.silent {
						if _, ok := c.peerOpt["heartbeat_ttl"]; ok {
							// The TTL comes with the peer's first PING.
							waitFor(t, func() bool { return peerTTL(g) > 0 })
						}
						p.stop()
						defer p.resume()
						e := log.waitFor(t, 5*time.Second, "disconnected", down)
						if !errors.Is(e.Err, ErrHeartbeat) {
							t.Fatalf("the silent peer's connection ended with %v, want ErrHeartbeat", e.Err)
						}
						return
					}
					// No traffic but heartbeats for four timeouts.
					log.quietWithin(t, 4*timeout, "the connection dropped though heartbeats were answered", down)
					mustSend(t, libzmqSide{p}, "again")
					expect(t, pull, "again")
					if n := log.count(EventHandshakeSucceeded); n != 1 {
						t.Fatalf("%d handshakes, want one connection all along", n)
					}
				})
			}
		}
	})
}

// TestConformanceReconnect: when the libzmq peer's process is killed
// and a new one takes its endpoint, messages flow again, whichever side
// connects; and a libzmq peer reconnects to a socket of ours that was
// closed and bound again.
func TestConformanceReconnect(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		for _, tr := range []string{"tcp", "ipc"} {
			run(tr+"/go-connects-peer-restarts", func(t *testing.T) {
				g := newSock(t, PUSH, Options{ReconnectInterval: 20 * time.Millisecond})
				p1 := startPeer(t, impl, PULL, nil)
				ep := p1.bind(bindAddr(tr, shortDir(t), false))
				if err := g.Connect(ep); err != nil {
					t.Fatal(err)
				}
				push := goSide{t, g}
				mustSend(t, push, "first")
				expect(t, libzmqSide{p1}, "first")
				p1.kill()
				p2 := startPeer(t, impl, PULL, nil)
				if got := p2.bind(ep); got != ep {
					t.Fatalf("bound %s again as %s", ep, got)
				}
				i := 0
				sendUntil(t, libzmqSide{p2}, "again", func() { mustSend(t, push, "again", fmt.Sprint(i)); i++ })
			})
			run(tr+"/go-binds-peer-restarts", func(t *testing.T) {
				g := newSock(t, PULL, Options{})
				ep, err := g.Bind(bindAddr(tr, shortDir(t), true))
				if err != nil {
					t.Fatal(err)
				}
				pull := goSide{t, g}
				p1 := startPeer(t, impl, PUSH, nil)
				p1.connect(ep)
				mustSend(t, libzmqSide{p1}, "first")
				expect(t, pull, "first")
				p1.kill()
				waitFor(t, func() bool { return g.Stats().Peers == 0 })
				p2 := startPeer(t, impl, PUSH, nil)
				p2.connect(ep)
				mustSend(t, libzmqSide{p2}, "second")
				expect(t, pull, "second")
			})
			run(tr+"/peer-connects-go-restarts", func(t *testing.T) {
				g1 := newSock(t, PULL, Options{})
				addr := bindAddr(tr, shortDir(t), true)
				if tr == "tcp" {
					// A port the kernel does not hand out to connecting
					// sockets: the bind after the restart must find it free,
					// and a port from the ephemeral range may by then be
					// another connection's local end.
					addr = fmt.Sprintf("tcp://127.0.0.1:%d", testutil.Port(t))
				}
				ep, err := g1.Bind(addr)
				if err != nil {
					t.Fatal(err)
				}
				p := startPeer(t, impl, PUSH, peerOpts{"reconnect_ivl": 20})
				p.connect(ep)
				push := libzmqSide{p}
				mustSend(t, push, "first")
				expect(t, goSide{t, g1}, "first")
				g1.Close()
				<-g1.Done()
				g2 := newSock(t, PULL, Options{})
				if got, err := g2.Bind(ep); err != nil || got != ep {
					t.Fatalf("binding %s again: %s, %v", ep, got, err)
				}
				// libzmq's PUSH holds what it cannot deliver: a timeout of
				// its send is a message it still holds, not a failure.
				i := 0
				sendUntil(t, goSide{t, g2}, "again", func() {
					if err := p.send(frames("again", fmt.Sprint(i)), 50*time.Millisecond); err != nil && !errors.Is(err, errPeerAgain) {
						t.Fatal(err)
					}
					i++
				})
			})
		}
	})
}

// TestConformanceRouting: a ROUTER of ours routes by identity between
// several libzmq peers, and keeps REQ envelopes both ways; a REQ of ours
// talks to a libzmq ROUTER.
func TestConformanceRouting(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		run("go-router", func(t *testing.T) {
			router := newSock(t, ROUTER, Options{RouterMandatory: true})
			ep, err := router.Bind("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			r := goSide{t, router}
			ids := []string{"alpha", "beta"}
			dealers := map[string]*zmqPeer{}
			for _, id := range ids {
				d := startPeer(t, impl, DEALER, peerOpts{"identity": []byte(id)})
				d.connect(ep)
				mustSend(t, libzmqSide{d}, "hi from", id)
				dealers[id] = d
			}
			for range ids {
				m := expectAny(t, r)
				if len(m) != 3 || string(m[1]) != "hi from" || string(m[0]) != string(m[2]) {
					t.Fatalf("router got %s", show(m))
				}
			}
			for _, id := range []string{"beta", "alpha", "beta"} {
				mustSend(t, r, id, "for", id)
			}
			expect(t, libzmqSide{dealers["beta"]}, "for", "beta")
			expect(t, libzmqSide{dealers["alpha"]}, "for", "alpha")
			expect(t, libzmqSide{dealers["beta"]}, "for", "beta")
			// A libzmq REQ's envelope: its id, the delimiter, the body.
			req := startPeer(t, impl, REQ, peerOpts{"identity": []byte("asker")})
			req.connect(ep)
			mustSend(t, libzmqSide{req}, "question")
			expect(t, r, "asker", "", "question")
			mustSend(t, r, "asker", "", "answer")
			expect(t, libzmqSide{req}, "answer")
		})
		run("go-req-to-router", func(t *testing.T) {
			p := startPeer(t, impl, ROUTER, nil)
			ep := p.bind("tcp://127.0.0.1:*")
			req := newSock(t, REQ, Options{Identity: []byte("me")})
			if err := req.Connect(ep); err != nil {
				t.Fatal(err)
			}
			mustSend(t, goSide{t, req}, "question")
			expect(t, libzmqSide{p}, "me", "", "question")
			mustSend(t, libzmqSide{p}, "me", "", "answer")
			expect(t, goSide{t, req}, "answer")
		})
		run("go-router-handover", func(t *testing.T) {
			router := newSock(t, ROUTER, Options{RouterHandover: true})
			ep, err := router.Bind("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			r := goSide{t, router}
			old := startPeer(t, impl, DEALER, peerOpts{"identity": []byte("x"), "reconnect_ivl": -1})
			old.connect(ep)
			mustSend(t, libzmqSide{old}, "old")
			expect(t, r, "x", "old")
			newer := startPeer(t, impl, DEALER, peerOpts{"identity": []byte("x")})
			newer.connect(ep)
			i := 0
			sendUntil(t, libzmqSide{newer}, "to x", func() { mustSend(t, r, "x", "to x", fmt.Sprint(i)); i++ })
		})
	})
}

// TestConformanceIncompatible: a PUB offered to a REQ is refused, as
// libzmq refuses it, whichever side is ours.
func TestConformanceIncompatible(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		for _, ours := range []Type{PUB, REQ} {
			theirs := REQ
			if ours == REQ {
				theirs = PUB
			}
			run("go-"+ours.String(), func(t *testing.T) {
				log := newEventLog()
				g := newSock(t, ours, Options{Events: log.add, Logger: slog.New(slog.DiscardHandler)})
				p := startPeer(t, impl, theirs, nil)
				link(t, g, p, "tcp", ours == PUB)
				e := log.waitFor(t, 5*time.Second, "handshake failed or succeeded", func(e Event) bool {
					return e.Kind == EventHandshakeProtocol || e.Kind == EventHandshakeFailed || e.Kind == EventHandshakeSucceeded
				})
				if e.Kind == EventHandshakeSucceeded {
					t.Fatalf("a %s of ours completed a handshake with a libzmq %s", ours, theirs)
				}
			})
		}
	})
}

// TestConformanceHostilePeers: raw peers that send garbage, a bad
// greeting, an unknown mechanism, stop mid-handshake or break the
// protocol after it, beside a good libzmq peer: the good peer is served
// throughout, every bad one is closed, and each is counted.
func TestConformanceHostilePeers(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		run("tcp", func(t *testing.T) { hostilePeers(t, impl) })
	})
}

func hostilePeers(t *testing.T, impl peerImpl) {
	{
		router := newSock(t, ROUTER, Options{HandshakeTimeout: 500 * time.Millisecond, MaxMessageSize: 1 << 20,
			Logger: slog.New(slog.DiscardHandler)})
		ep, err := router.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := goSide{t, router}
		good := startPeer(t, impl, DEALER, peerOpts{"identity": []byte("good")})
		good.connect(ep)
		d := libzmqSide{good}
		roundTrip := func(n int) {
			t.Helper()
			mustSend(t, d, "ping", fmt.Sprint(n))
			expect(t, r, "good", "ping", fmt.Sprint(n))
			mustSend(t, r, "good", "pong", fmt.Sprint(n))
			expect(t, d, "pong", fmt.Sprint(n))
		}
		roundTrip(0)
		var open []net.Conn
		bad := hostileHandshakes("DEALER")
		for name, b := range bad {
			c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.Write(b); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			open = append(open, c)
			roundTrip(len(open))
		}
		// A well-formed peer whose message is over the socket's bound.
		z, err := zmtptest.Dial(ep, "DEALER")
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		z.Send(make([]byte, 2<<20)) // the socket may close before it is all written
		// Closed with the rest of the frame unread, the connection may be
		// reset rather than ended: either is an error that is no timeout.
		var ne net.Error
		if _, err := z.Recv(5 * time.Second); err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a peer over the message size bound was not dropped: %v", err)
		}
		roundTrip(len(open) + 1)
		for i, c := range open {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("hostile peer %d was not dropped", i)
			}
		}
		// Three of them complete the handshake and break the protocol after.
		wantHS, wantProto := uint64(len(bad)-3), uint64(3+1)
		waitFor(t, func() bool {
			st := router.Stats()
			return st.HandshakeFailures == wantHS && st.ProtocolErrors == wantProto
		})
		roundTrip(len(open) + 2)
		if st := router.Stats(); st.Peers != 1 {
			t.Fatalf("%d peers, want the good one", st.Peers)
		}
	}
}
