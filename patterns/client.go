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
	done    chan struct{}
	cancel  context.CancelFunc

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
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{d: d, cfg: cfg, log: cfg.logger, pending: map[uint64]chan []byte{}, done: make(chan struct{}), cancel: cancel}
	// Ids start at a random point so that a restarted client does not
	// reuse the ids of its previous life.
	var seed [8]byte
	copy(seed[:], connection.UniqueIdentity())
	c.seq.Store(binary.BigEndian.Uint64(seed[:]) >> 16)
	go c.receive(ctx)
	return c, nil
}

// ClientStats counts what a Client did.
type ClientStats struct {
	Sent      uint64 // requests sent, first attempts
	Resent    uint64 // attempts after a timeout
	Late      uint64 // replies that came after their request was answered or given up
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
	t := time.NewTimer(c.cfg.timeout)
	defer t.Stop()
	for attempt := 0; ; attempt++ {
		// With no broker connected a DEALER cannot even send; that too
		// is an attempt that timed out.
		payload, err := encode(deadline)
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
		err = c.d.Send(sctx, idFrame, payload)
		cancel()
		if err != nil && (!errors.Is(err, connection.ErrTimeout) || ctx.Err() != nil) {
			return nil, err
		}
		if attempt == 0 {
			c.sent.Add(1)
		} else {
			c.resent.Add(1)
		}
		t.Reset(c.cfg.timeout)
		if err != nil {
			t.Reset(0) // the send itself used up the attempt
		}
		select {
		case rep := <-ch:
			return rep, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("request: %w", ctx.Err())
		case <-c.done:
			return nil, fmt.Errorf("request: %w", connection.ErrClosed)
		case <-t.C:
		}
		if attempt >= c.cfg.retries {
			return nil, fmt.Errorf("request after %d attempts of %v: %w: %w", attempt+1, c.cfg.timeout, ErrRetriesExhausted, connection.ErrTimeout)
		}
		c.log.Debug("no reply in time: resending", "attempt", attempt+2)
		if backoff := c.cfg.policy().Wait(attempt + 1); backoff > 0 {
			t.Reset(backoff)
			select {
			case rep := <-ch: // the late reply still answers this request
				return rep, nil
			case <-ctx.Done():
				return nil, fmt.Errorf("request: %w", ctx.Err())
			case <-t.C:
			}
		}
	}
}

func (c *Client) receive(ctx context.Context) {
	defer close(c.done)
	for {
		msg, err := c.d.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, connection.ErrClosed) {
				return
			}
			continue
		}
		if len(msg) != 2 || len(msg[0]) != 8 {
			c.malformed.Add(1)
			continue
		}
		id := binary.BigEndian.Uint64(msg[0])
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch == nil {
			c.late.Add(1) // answered already, or given up: never another's answer
			continue
		}
		ch <- msg[1]
	}
}

// Close closes the client; requests in progress fail with
// connection.ErrClosed.
func (c *Client) Close() error {
	c.cancel()
	err := c.d.Close()
	<-c.done
	return err
}
