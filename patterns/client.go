package patterns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// ErrRetriesExhausted is wrapped, with connection.ErrTimeout, by a Client
// request that got no reply in any of its attempts.
var ErrRetriesExhausted = errors.New("dividere: no reply after every retry")

// Client sends requests to a Broker's front end and resends them when no
// reply comes in time (the "lazy pirate" pattern). Each request carries an
// id, so a late reply to an earlier attempt still answers its own request
// and never another. One Client serves any number of goroutines at once;
// their requests are in flight together.
type Client struct {
	d   *connection.Dealer
	cfg config
	log *slog.Logger

	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan []byte
	// lead is held by the request that receives for all: one waiting for
	// its reply that finds nobody receiving receives itself, hands the
	// others' replies to them and, once its own has come, leaves the
	// socket to the next. With one request at a time (the common case)
	// its reply reaches it with no hand-off between goroutines, which
	// is a thread wake-up less per request.
	lead      chan struct{}
	done      chan struct{} // closed by Close
	closeOnce sync.Once

	sent, resent, late, malformed atomic.Uint64
}

// NewClient connects to the broker front end(s) at endpoints (several
// brokers are used round-robin).
func NewClient(endpoints string, opts ...Option) (*Client, error) {
	cfg := newConfig(opts)
	if err := cfg.check("Client"); err != nil {
		return nil, err
	}
	return newClient(endpoints, cfg)
}

func newClient(endpoints string, cfg config) (*Client, error) {
	conn := cfg.conn
	if cfg.identity != "" {
		conn = append(conn, connection.WithIdentity(cfg.identity))
	}
	d, err := connection.NewDealer(endpoints, append(conn, connection.WithLinger(0))...)
	if err != nil {
		return nil, err
	}
	c := &Client{d: d, cfg: cfg, log: cfg.logger, pending: map[uint64]chan []byte{},
		lead: make(chan struct{}, 1), done: make(chan struct{})}
	// Ids start at a random point so that a restarted client does not
	// reuse the ids of its previous life.
	var seed [8]byte
	copy(seed[:], connection.UniqueIdentity())
	c.seq.Store(binary.BigEndian.Uint64(seed[:]) >> 16)
	return c, nil
}

// ClientStats counts what a Client did.
type ClientStats struct {
	Sent      uint64 // requests sent, first attempts
	Resent    uint64 // attempts after a timeout
	Late      uint64 // replies that came after their request was answered or given up (counted when a later request receives them)
	Malformed uint64 // replies that were not [id, payload]
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{Sent: c.sent.Load(), Resent: c.resent.Load(), Late: c.late.Load(), Malformed: c.malformed.Load()}
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
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	idFrame := binary.BigEndian.AppendUint64(nil, id)
	for attempt := 0; ; attempt++ {
		payload, err := encode(deadline)
		if err != nil {
			return nil, err
		}
		// One context bounds the attempt: its send and its wait.
		actx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
		err = c.d.Send(actx, idFrame, payload)
		if err != nil && (!errors.Is(err, connection.ErrTimeout) || ctx.Err() != nil) {
			cancel()
			return nil, err
		}
		if attempt == 0 {
			c.sent.Add(1)
		} else {
			c.resent.Add(1)
		}
		// With no broker connected a DEALER cannot even send; that too
		// is an attempt that timed out.
		var rep []byte
		if err == nil {
			rep, err = c.await(actx, id, ch)
		}
		cancel()
		if done, err := settled(ctx, err); done {
			return rep, err
		}
		if attempt >= c.cfg.retries {
			return nil, fmt.Errorf("request after %d attempts of %v: %w: %w", attempt+1, c.cfg.timeout, ErrRetriesExhausted, connection.ErrTimeout)
		}
		c.log.Debug("no reply in time: resending", "attempt", attempt+2)
		if backoff := c.cfg.policy().Wait(attempt + 1); backoff > 0 {
			bctx, cancel := context.WithTimeout(ctx, backoff)
			rep, err := c.await(bctx, id, ch) // a late reply still answers this request
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
	for {
		select {
		case rep := <-ch: // delivered by the one that received before us
			return rep, nil
		default:
		}
		msg, err := c.d.Recv(ctx)
		if err != nil {
			return nil, err
		}
		if len(msg) != 2 || len(msg[0]) != 8 {
			c.malformed.Add(1)
			continue
		}
		rid := binary.BigEndian.Uint64(msg[0])
		c.mu.Lock()
		rch := c.pending[rid]
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
	return c.d.Close()
}
