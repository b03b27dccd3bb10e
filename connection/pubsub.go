package connection

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/zmtp"
)

// Publisher sends messages to every subscriber whose topic is a prefix of
// the message's first frame. It binds by default (see
// "Binding or connecting" in the package doc).
//
// It is built on an XPUB socket, which is a PUB on the wire, so any SUB
// peer works with it; XPUB also tells the publisher who subscribed to
// what, which is what WaitSubscribers waits for.
type Publisher struct {
	*sock
	subMu sync.Mutex
	subs  map[string]int // subscription prefix -> number of subscriptions
	joins uint64         // subscribe notices seen so far; guarded by subMu
	sends uint32
	// beforeSendFn is p.beforeSend, bound once: a method value made on
	// every Send would allocate.
	beforeSendFn func()
	// lossyUntil is when the Publisher stops dropping for a slow
	// subscriber and waits for full queues again (zero: it waits); guarded
	// by the socket's mutex.
	lossyUntil time.Time
	hold       time.Duration // the current spell's length
	lastSlow   time.Time
}

// NewPublisher creates a Publisher on the endpoint list.
func NewPublisher(endpoints string, opts ...PublisherOption) (*Publisher, error) {
	cfg := newConfig(opts, PublisherOption.applyPublisher)
	if !cfg.maxMsgSizeSet {
		cfg.maxMsgSize = defaultSubscriptionMaxSize
	}
	s, err := newSocket(kind{
		typ: zmtp.XPUB,
		// Report every subscribe and unsubscribe, not only the first and
		// last per topic, so that subscriptions can be counted.
		xpubVerbose: true,
		// A full subscriber queue makes a send wait rather than drop;
		// Send decides how long (WithSlowSubscriberWait).
		xpubNoDrop: cfg.slowWait != 0,
	}, endpoints, endpoint.Bind, cfg)
	if err != nil {
		return nil, err
	}
	p := &Publisher{sock: s, subs: map[string]int{}}
	p.beforeSendFn = p.beforeSend
	s.sendWait, s.sendStuck = cfg.slowWait, p.stuck
	if s.mon != nil {
		// Subscriptions follow handshakes; read them off as peers come
		// and go so that they never pile up in an idle publisher.
		s.mon.addHook(func(ev Event) {
			if ev.Kind == EventHandshakeSucceeded || ev.Kind == EventDisconnected {
				s.locked(p.drainLocked)
			}
		})
	}
	return p, nil
}

// Send publishes one message; its first frame is matched against the
// subscribers' topics. When a subscriber's queue (high-water mark) is
// full, Send waits for room for up to WithSlowSubscriberWait (default
// defaultSlowSubscriberWait), so that a subscriber that keeps up with
// the pace the network allows loses nothing; past that the subscriber is
// slow, and for a while Send drops instead of waiting, for it and for any
// other whose queue is full (Stats counts both: SendWaits,
// SlowSubscribers).
func (p *Publisher) Send(ctx context.Context, frames ...[]byte) error {
	return p.sendWith(ctx, frames, p.beforeSendFn)
}

// beforeSend reads subscription notices now and then: it costs an
// engine call, and doing it every 1024 sends keeps them from piling up at no
// measurable cost. It also ends a spell of dropping for a slow
// subscriber. p.mu is held.
func (p *Publisher) beforeSend() {
	if p.sends++; p.sends%1024 == 0 {
		p.drainLocked()
		if !p.lossyUntil.IsZero() && time.Now().After(p.lossyUntil) {
			p.lossyUntil = time.Time{}
			p.setNoDrop(true)
		}
	}
}

// stuck is called, with p.mu held, when a send has waited its while for a
// full subscriber queue: the Publisher drops for it from now on, for
// slowSubscriberHold or longer, and the send is tried again (it then
// goes through).
func (p *Publisher) stuck() bool {
	if p.cfg.slowWait <= 0 {
		return false
	}
	p.stats.slowSubscribers.Add(1)
	now := time.Now()
	if p.hold == 0 || now.Sub(p.lastSlow) > 2*p.hold+p.cfg.slowWait {
		p.hold = slowSubscriberHold // not slow again soon after: start over
	} else {
		p.hold = min(2*p.hold, slowSubscriberHoldMax)
	}
	p.lastSlow = now
	p.lossyUntil = now.Add(p.hold)
	p.setNoDrop(false)
	p.warn.Warn(p.log(), "a subscriber's queue stayed full: dropping messages for it",
		"socket", p.name, "waited", p.cfg.slowWait, "for", p.hold)
	return true
}

// drainLocked reads pending subscription notices; p.mu must be held.
// When there were any, a WaitSubscribers parked on the socket is woken to
// count again: the notices it waits for may have been read here.
func (p *Publisher) drainLocked() {
	changed := false
	for {
		b, ok := p.tryNotice()
		if !ok {
			break
		}
		changed = true
		topic := string(b[1:])
		p.subMu.Lock()
		switch b[0] {
		case 1:
			p.subs[topic]++
			p.joins++
		case 0:
			if p.subs[topic] > 0 {
				p.subs[topic]--
				if p.subs[topic] == 0 {
					delete(p.subs, topic)
				}
			}
		}
		p.subMu.Unlock()
	}
	if changed {
		p.wakeReader()
	}
}

// Subscribers returns how many subscriptions would receive a message
// whose first frame starts with topic. A subscriber that subscribed to
// several matching prefixes counts once per prefix.
func (p *Publisher) Subscribers(topic string) int {
	p.locked(p.drainLocked)
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return p.countLocked(topic)
}

func (p *Publisher) countLocked(topic string) int {
	n := 0
	for prefix, c := range p.subs {
		if strings.HasPrefix(topic, prefix) {
			n += c
		}
	}
	return n
}

// WaitSubscribers blocks until at least n subscriptions match topic (see
// Subscribers), so that messages sent afterwards reach them. This is the
// reliable answer to PUB/SUB's late-joiner problem.
func (p *Publisher) WaitSubscribers(ctx context.Context, topic string, n int) error {
	got := 0
	err := p.do(ctx, func() error {
		p.drainLocked()
		p.subMu.Lock()
		got = p.countLocked(topic)
		p.subMu.Unlock()
		if got >= n {
			return nil
		}
		return errAgain // woken by the next subscription notice
	})
	if err != nil {
		return fmt.Errorf("%s wait subscribers (%d of %d): %w", p.name, got, n, p.mapErr("wait", err))
	}
	return nil
}

// WaitJoin blocks until a subscription arrives after the first seen
// subscriptions (see Joins), and returns the new count: a publisher that
// greets every newcomer, however many come and go, loops on it.
func (p *Publisher) WaitJoin(ctx context.Context, seen uint64) (uint64, error) {
	var joins uint64
	err := p.do(ctx, func() error {
		p.drainLocked()
		p.subMu.Lock()
		joins = p.joins
		p.subMu.Unlock()
		if joins > seen {
			return nil
		}
		return errAgain
	})
	if err != nil {
		return joins, p.mapErr("wait join", err)
	}
	return joins, nil
}

// Joins returns how many subscriptions the publisher has seen arrive
// since it was created (each topic of each subscriber counts once).
func (p *Publisher) Joins() uint64 {
	p.locked(p.drainLocked)
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return p.joins
}

// Subscriber receives the messages whose first frame starts with one of
// its topics. It connects by default (see
// "Binding or connecting" in the package doc).
type Subscriber struct {
	*sock
}

// WithTopics subscribes a Subscriber to topics before it connects. A
// Subscriber created without it receives everything (topic "").
func WithTopics(topics ...string) SubscriberOption {
	return subscriberOption(func(c *config) { c.topics = append(c.topics, topics...); c.topicsSet = true })
}

// NewSubscriber creates a Subscriber on the endpoint list.
func NewSubscriber(endpoints string, opts ...SubscriberOption) (*Subscriber, error) {
	cfg := newConfig(opts, SubscriberOption.applySubscriber)
	topics := cfg.topics
	if !cfg.topicsSet {
		topics = []string{""}
	}
	s, err := newSocket(kind{typ: zmtp.SUB, topics: topics}, endpoints, endpoint.Connect, cfg)
	if err != nil {
		return nil, err
	}
	return &Subscriber{sock: s}, nil
}

// Subscribe adds topics (byte prefixes; "" is everything).
func (s *Subscriber) Subscribe(topics ...string) error {
	return s.mapErr("subscribe", s.subscribe(true, topics))
}

// Unsubscribe removes topics added before.
func (s *Subscriber) Unsubscribe(topics ...string) error {
	return s.mapErr("unsubscribe", s.subscribe(false, topics))
}

// Recv blocks until a message arrives, ctx ends (ErrTimeout or
// context.Canceled) or the socket is closed (ErrClosed).
func (s *Subscriber) Recv(ctx context.Context) (Message, error) { return s.recv(ctx) }

// RecvView receives the next message on s, as s.Recv does, and returns
// what decode makes of it. decode is handed the message where it lies in
// the socket's receive buffer, without the copy Recv makes so that its
// caller may keep what it receives: decode must be done with the frames
// when it returns. A decoder that copies what it keeps (as Protobuf's
// does) may be given them; nothing that keeps them may. It saves a copy
// and an allocation per message. The error is the socket's, as Recv's,
// or else decode's.
//
// decode is best made once per receiver (a method value), not per call:
// a closure passed here escapes to the heap.
func RecvView[T any](ctx context.Context, s *Subscriber, decode func(Message) (T, error)) (T, error) {
	v, derr, err := recvView(s.sock, ctx, decode)
	if err != nil {
		return v, err
	}
	return v, derr
}
