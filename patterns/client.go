package patterns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/messaging"
)

// ErrRetriesExhausted is wrapped, with connection.ErrTimeout, by a Client
// request that got no reply in any of its attempts.
var ErrRetriesExhausted = errors.New("dividere: no reply after every retry")

// Client sends requests to a Broker's front end and resends them when no
// reply comes in time (the "lazy pirate" pattern): bytes with Request,
// Protobuf messages to a MsgWorker with Call. Each request carries an
// id, so a late reply to an earlier attempt still answers its own request
// and never another. One Client serves any number of goroutines at once;
// their requests are in flight together.
//
// Given several brokers' front ends, a client spreads its requests over
// the brokers it is connected to, and sends a request that gets no reply
// in time to the next broker. When a broker's connection breaks (the
// broker died), the requests that went to it are sent to another at once,
// without waiting for their timeout. A request keeps its id across all
// its attempts, so that a worker that sees it again answers with the
// reply it kept (WithDedup); the caller gets one reply, or an error.
type Client struct {
	brokers []*clientBroker
	cfg     config
	log     *slog.Logger
	next    atomic.Uint64 // round-robin over the brokers
	nonce   [8]byte       // the first half of every request id: this client

	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]*call
	// lead is held by the request that receives for all: one waiting for
	// its reply that finds nobody receiving receives itself, hands the
	// others' replies to them and, once its own has come, leaves the
	// socket to the next. With one request at a time (the common case)
	// its reply reaches it with no hand-off between goroutines, which
	// is a thread wake-up less per request.
	lead      chan struct{}
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	watchers  sync.WaitGroup

	sent, resent, late, malformed, failovers atomic.Uint64

	msgOpts []messaging.RequestOption // Call's: its WithOutgoing hooks
}

// clientBroker is one broker's front end, as a Client sees it.
type clientBroker struct {
	endpoint string
	d        *connection.Dealer
	up       atomic.Bool // its connection is up, as the socket's events tell
	// suspect is until when (UnixNano) first attempts avoid it: an
	// attempt timed out there, and a broker that hangs keeps its
	// connections up. A reply through it clears it.
	suspect                 atomic.Int64
	seen                    atomic.Bool // it has been up once
	attempts, replies, lost atomic.Uint64
}

// call is one request in flight.
type call struct {
	ch     chan []byte // its reply
	broker int         // where its current attempt went
	cancel context.CancelCauseFunc
}

// maxBrokers is how many brokers a Client may name: it waits on all
// their sockets at once, and connection.WaitAny takes at most 8.
const maxBrokers = 8

// errBrokerLost ends an attempt whose broker's connection broke.
var errBrokerLost = errors.New("dividere: the broker's connection broke")

// NewClient connects to the broker front end(s) at endpoints (a
// comma-separated list names several brokers: see Client).
func NewClient(endpoints string, opts ...ClientOption) (*Client, error) {
	cfg := newConfig(opts, ClientOption.applyClient)
	eps, err := endpoint.Parse(endpoints, endpoint.Connect)
	if err != nil {
		return nil, err
	}
	if len(eps) > maxBrokers {
		return nil, fmt.Errorf("%w: %d brokers, at most %d", connection.ErrEndpoint, len(eps), maxBrokers)
	}
	extra := []connection.DealerOption{connection.WithLinger(0)}
	if cfg.identity != "" {
		extra = append(extra, connection.WithIdentity(cfg.identity))
	}
	c := &Client{cfg: cfg, log: cfg.logger, pending: map[uint64]*call{},
		lead: make(chan struct{}, 1), done: make(chan struct{}), msgOpts: cfg.messaging}
	copy(c.nonce[:], randomBytes())
	// Sequence numbers start at a random point too, as they did when
	// they were all of the id.
	c.seq.Store(binary.BigEndian.Uint64(randomBytes()) >> 16)
	if len(eps) == 1 {
		d, err := connection.NewDealer(endpoints, cfg.dealerOptions(extra...)...)
		if err != nil {
			return nil, err
		}
		c.brokers = []*clientBroker{{endpoint: eps[0].Addr, d: d}}
		c.brokers[0].up.Store(true)
		return c, nil
	}
	for i, ep := range eps {
		events := make(chan connection.Event, 64)
		d, err := connection.NewDealer(explicit(ep), cfg.dealerOptions(append(extra, connection.WithEvents(events))...)...)
		if err != nil {
			c.Close()
			return nil, err
		}
		b := &clientBroker{endpoint: ep.Addr, d: d}
		c.brokers = append(c.brokers, b)
		c.watchers.Add(1)
		go c.watch(i, b, events)
	}
	return c, nil
}

// randomBytes returns 8 random bytes.
func randomBytes() []byte {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on the systems Go supports
	}
	return b[:]
}

// watch follows broker i's connection: when it breaks, the attempts that
// went to it are ended at once, to be sent to another broker.
func (c *Client) watch(i int, b *clientBroker, events <-chan connection.Event) {
	defer c.watchers.Done()
	for {
		select {
		case <-c.done:
			return
		case ev := <-events:
			switch ev.Kind {
			case connection.EventHandshakeSucceeded:
				if b.seen.Swap(true) {
					// Back after a break (a restarted broker, most
					// likely): its workers reconnect at their own pace,
					// so give them an attempt timeout before first
					// attempts come again.
					b.suspect.Store(time.Now().Add(c.cfg.timeout).UnixNano())
				}
				b.up.Store(true)
			case connection.EventDisconnected, connection.EventClosed:
				if !b.up.Swap(false) {
					continue
				}
				c.mu.Lock()
				for _, cl := range c.pending {
					if cl.broker == i && cl.cancel != nil {
						cl.cancel(errBrokerLost)
					}
				}
				c.mu.Unlock()
			}
		}
	}
}

// ClientStats counts what a Client did.
type ClientStats struct {
	Sent      uint64 // requests sent, first attempts
	Resent    uint64 // attempts after a timeout, or after their broker's connection broke
	Late      uint64 // replies that came after their request was answered or given up (counted when a later request receives them)
	Malformed uint64 // replies that were not [id, payload]
	// Failovers counts attempts ended before their timeout because their
	// broker's connection broke, and sent to another broker.
	Failovers uint64
	// Brokers is each broker's share, in the order given.
	Brokers []ClientBrokerStats
}

// ClientBrokerStats counts what went through one broker of a Client.
type ClientBrokerStats struct {
	Endpoint string
	Up       bool   // connected now (with one broker: always true)
	Attempts uint64 // attempts sent to it
	Replies  uint64 // replies that came through it
	Lost     uint64 // attempts ended because its connection broke
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	st := ClientStats{Sent: c.sent.Load(), Resent: c.resent.Load(), Late: c.late.Load(), Malformed: c.malformed.Load(),
		Failovers: c.failovers.Load()}
	for _, b := range c.brokers {
		st.Brokers = append(st.Brokers, ClientBrokerStats{Endpoint: b.endpoint, Up: b.up.Load(),
			Attempts: b.attempts.Load(), Replies: b.replies.Load(), Lost: b.lost.Load()})
	}
	return st
}

// pick chooses the broker for an attempt: the next connected one after
// the one the previous attempt went to (first attempts go round-robin),
// or, with none connected, the next one.
func (c *Client) pick(attempt, prev int) int {
	n := len(c.brokers)
	if n == 1 {
		return 0
	}
	start := prev + 1
	if attempt == 0 {
		start = int(c.next.Add(1) % uint64(n))
	}
	now := time.Now().UnixNano()
	for k := range n {
		if i := (start + k) % n; c.brokers[i].up.Load() && c.brokers[i].suspect.Load() < now {
			return i
		}
	}
	for k := range n {
		if i := (start + k) % n; c.brokers[i].up.Load() {
			return i
		}
	}
	return start % n
}

// Request sends payload and returns the reply. Each attempt waits for the
// per-attempt timeout (WithRetry); after the last one Request fails with
// an error wrapping ErrRetriesExhausted and connection.ErrTimeout. ctx
// bounds the whole.
func (c *Client) Request(ctx context.Context, payload []byte) ([]byte, error) {
	return c.request(ctx, func(time.Time) ([]byte, error) { return payload, nil })
}

// budget is how long a request may take in all: every attempt's timeout
// and every backoff between them.
func (c *Client) budget() time.Duration { return c.cfg.policy().Budget() }

// request is Request with the payload made for each attempt by encode,
// given the request's deadline (ctx's, else the end of the budget), so
// that an envelope's header can carry the time that remains at each
// attempt, not the time there was at the first.
func (c *Client) request(ctx context.Context, encode func(deadline time.Time) ([]byte, error)) ([]byte, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.budget())
	}
	id := c.seq.Add(1)
	cl := &call{ch: make(chan []byte, 1), broker: -1}
	c.mu.Lock()
	c.pending[id] = cl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	idFrame := binary.BigEndian.AppendUint64(c.nonce[:len(c.nonce):len(c.nonce)], id)
	broker := -1
	for attempt := 0; ; attempt++ {
		payload, err := encode(deadline)
		if err != nil {
			return nil, err
		}
		broker = c.pick(attempt, broker)
		b := c.brokers[broker]
		// One context bounds the attempt: its send and its wait; it ends
		// early when the broker's connection breaks (Client.watch).
		actx, cancelTimeout := context.WithTimeout(ctx, c.cfg.timeout)
		multi := len(c.brokers) > 1
		cancel := context.CancelCauseFunc(func(error) {})
		if multi { // one broker: no watcher, nothing to end the attempt early
			actx, cancel = context.WithCancelCause(actx)
			c.mu.Lock()
			cl.broker, cl.cancel = broker, cancel
			c.mu.Unlock()
		}
		lostBroker := func() bool { return multi && errors.Is(context.Cause(actx), errBrokerLost) }
		err = b.d.Send(actx, idFrame, payload)
		lost := lostBroker()
		if err != nil && !lost && (!errors.Is(err, connection.ErrTimeout) || ctx.Err() != nil) {
			cancel(nil)
			cancelTimeout()
			return nil, err
		}
		b.attempts.Add(1)
		if attempt == 0 {
			c.sent.Add(1)
		} else {
			c.resent.Add(1)
		}
		// With no broker connected a DEALER cannot even send; that too
		// is an attempt that timed out.
		var rep []byte
		if err == nil {
			rep, err = c.await(actx, id, cl.ch)
		}
		lost = lostBroker()
		if multi {
			c.mu.Lock()
			cl.cancel = nil
			c.mu.Unlock()
		}
		cancel(nil)
		cancelTimeout()
		switch {
		case lost && err != nil && ctx.Err() == nil:
			b.lost.Add(1)
			c.failovers.Add(1)
			err = context.DeadlineExceeded // as a timeout: the next attempt goes elsewhere
		case multi && err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			b.suspect.Store(time.Now().Add(c.cfg.timeout).UnixNano())
		}
		if done, err := settled(ctx, err); done {
			return rep, err
		}
		if attempt >= c.cfg.retries {
			return nil, fmt.Errorf("request after %d attempts of %v: %w: %w", attempt+1, c.cfg.timeout, ErrRetriesExhausted, connection.ErrTimeout)
		}
		c.log.Debug("no reply in time: resending", "attempt", attempt+2, "lost broker", lost)
		if backoff := c.cfg.policy().Wait(attempt + 1); backoff > 0 && !lost {
			bctx, cancel := context.WithTimeout(ctx, backoff)
			rep, err := c.await(bctx, id, cl.ch) // a late reply still answers this request
			cancel()
			if done, err := settled(ctx, err); done {
				return rep, err
			}
		}
	}
}

// settled reports whether a wait's outcome ends the request (its reply
// came, or an error other than the wait's own deadline ended it), with
// the error to return then.
func settled(ctx context.Context, err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return true, fmt.Errorf("request: %w", ctx.Err())
	case !errors.Is(err, context.DeadlineExceeded):
		return true, fmt.Errorf("request: %w", err)
	}
	return false, nil
}

// await waits for the reply to request id until ctx ends (an error
// wrapping context.DeadlineExceeded when its deadline passes): delivered
// to ch by the request receiving for all, or received itself when nobody
// is (see Client.lead).
func (c *Client) await(ctx context.Context, id uint64, ch chan []byte) ([]byte, error) {
	select {
	case rep := <-ch: // delivered already: it wins over an ended context
		return rep, nil
	default:
	}
	select {
	case rep := <-ch:
		return rep, nil
	case c.lead <- struct{}{}:
		rep, err := c.receive(ctx, id, ch)
		<-c.lead
		return rep, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, connection.ErrClosed
	}
}

// receive receives replies, the caller holding c.lead, until the one to
// request id comes or ctx ends; the others go to their requests.
func (c *Client) receive(ctx context.Context, id uint64, ch chan []byte) ([]byte, error) {
	var socks []connection.Waitable
	if len(c.brokers) > 1 {
		for _, b := range c.brokers {
			socks = append(socks, b.d)
		}
	}
	for {
		select {
		case rep := <-ch: // delivered by the one that received before us
			return rep, nil
		default:
		}
		i := 0
		if socks != nil {
			var err error
			if i, err = connection.WaitAny(ctx, socks...); err != nil {
				return nil, err
			}
		}
		msg, err := c.brokers[i].d.Recv(ctx)
		if err != nil {
			return nil, err
		}
		if len(msg) != 2 || len(msg[0]) != requestIDSize || !bytes.Equal(msg[0][:8], c.nonce[:]) {
			c.malformed.Add(1)
			continue
		}
		c.brokers[i].replies.Add(1)
		if c.brokers[i].suspect.Load() != 0 {
			c.brokers[i].suspect.Store(0)
		}
		rid := binary.BigEndian.Uint64(msg[0][8:])
		c.mu.Lock()
		var rch chan []byte
		if cl := c.pending[rid]; cl != nil {
			rch = cl.ch
		}
		delete(c.pending, rid)
		c.mu.Unlock()
		switch {
		case rch == nil:
			c.late.Add(1) // answered already, or given up: never another's answer
		case rid == id:
			return msg[1], nil
		default:
			rch <- msg[1] // buffered, and it has left pending: never blocks
		}
	}
}

// Close closes the client; requests in progress fail with
// connection.ErrClosed.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	var err error
	for _, b := range c.brokers {
		err = errors.Join(err, b.d.Close())
	}
	c.watchers.Wait()
	return err
}
