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
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// Control signals of the byte-level protocol (WIRE.md).
const (
	signalReady     byte = 0x01
	signalHeartbeat byte = 0x02
	// signalDropped (an addition) tells the broker that the worker
	// dropped a request without replying and is free for another.
	signalDropped byte = 0x03
)

// Broker hands requests from clients to workers, least recently used
// first, and replies back to the clients. With no worker free it holds
// requests in a bounded queue; it never fails for want of workers.
type Broker struct {
	front, back *connection.Router
	cfg         config
	log         *slog.Logger
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	closeOnce   sync.Once

	mu      sync.Mutex
	workers map[string]*worker
	free    []slot   // one entry per request a worker can take now, oldest first
	queue   []queued // requests waiting for a worker, oldest first
	gen     uint64

	requests, replies, dropped, expired, unroutable, malformed, deaths atomic.Uint64
}

// worker is what the broker knows of one worker.
type worker struct {
	id       []byte
	gen      uint64 // bumped when the worker announces itself again
	capacity int
	busy     int
	expiry   time.Time
	envelope bool // speaks Heartbeat envelopes rather than 0x01/0x02
}

type slot struct {
	id  string
	gen uint64
}

type queued struct {
	msg connection.Message // [client route..., payload]
	at  time.Time
}

// NewBroker binds (or connects, see connection.ParseEndpoints) its front
// end for clients and back end for workers and starts serving.
func NewBroker(frontend, backend string, opts ...Option) (*Broker, error) {
	cfg := newConfig(opts)
	front, err := connection.NewRouter(frontend, append(cfg.conn, connection.WithName("broker-frontend"))...)
	if err != nil {
		return nil, err
	}
	back, err := connection.NewRouter(backend, append(cfg.conn, connection.WithName("broker-backend"))...)
	if err != nil {
		front.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{front: front, back: back, cfg: cfg, log: cfg.logger, cancel: cancel, workers: map[string]*worker{}}
	b.wg.Add(3)
	go func() { defer b.wg.Done(); b.serveFrontend(ctx) }()
	go func() { defer b.wg.Done(); b.serveBackend(ctx) }()
	go func() { defer b.wg.Done(); b.sweep(ctx) }()
	return b, nil
}

// Frontend returns the endpoint clients connect to.
func (b *Broker) Frontend() string { return b.front.Endpoint() }

// Backend returns the endpoint workers connect to.
func (b *Broker) Backend() string { return b.back.Endpoint() }

// BrokerStats counts what a Broker did.
type BrokerStats struct {
	Requests   uint64 // requests received from clients
	Replies    uint64 // replies passed back to clients
	Queued     int    // requests waiting for a worker now
	Dropped    uint64 // requests refused because the queue was full
	Expired    uint64 // requests dropped after waiting DefaultQueueTimeout (WithQueue)
	Unroutable uint64 // replies whose client was gone
	Malformed  uint64 // messages that fit no part of the protocol
	Workers    int    // live workers now
	Deaths     uint64 // workers given up for silence
}

// Stats returns the broker's counters.
func (b *Broker) Stats() BrokerStats {
	b.mu.Lock()
	q, w := len(b.queue), len(b.workers)
	b.mu.Unlock()
	return BrokerStats{
		Requests: b.requests.Load(), Replies: b.replies.Load(), Queued: q,
		Dropped: b.dropped.Load(), Expired: b.expired.Load(), Unroutable: b.unroutable.Load(),
		Malformed: b.malformed.Load(), Workers: w, Deaths: b.deaths.Load(),
	}
}

// WaitWorkers blocks until at least n workers are live.
func (b *Broker) WaitWorkers(ctx context.Context, n int) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if b.Stats().Workers >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d workers: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops the broker; requests in its queue are dropped.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.front.Close()
		b.back.Close()
		b.wg.Wait()
	})
	return nil
}

func (b *Broker) serveFrontend(ctx context.Context) {
	for {
		msg, err := b.front.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, connection.ErrClosed) {
				return
			}
			b.log.Warn("broker frontend receive", "err", err)
			continue
		}
		if len(msg) < 2 { // a ROUTER always adds the identity
			b.malformed.Add(1)
			continue
		}
		b.requests.Add(1)
		b.mu.Lock()
		w := b.takeLocked(time.Now())
		if w == nil {
			b.enqueueLocked(msg)
			b.mu.Unlock()
			continue
		}
		id := w.id
		b.mu.Unlock()
		b.forward(ctx, id, msg)
	}
}

// forward sends a request to a worker; a worker that turns out to be gone
// is forgotten and the request goes to the next one (or the queue).
func (b *Broker) forward(ctx context.Context, id []byte, msg connection.Message) {
	for {
		err := b.back.Send(ctx, append(connection.Message{id}, msg...)...)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		b.log.Debug("worker unreachable; trying another", "worker", string(id), "err", err)
		b.mu.Lock()
		if w := b.workers[string(id)]; w != nil && errors.Is(err, connection.ErrUnreachable) {
			delete(b.workers, string(id))
			b.deaths.Add(1)
		}
		w := b.takeLocked(time.Now())
		if w == nil {
			b.queue = append([]queued{{msg: msg, at: time.Now()}}, b.queue...) // it keeps its place
			b.mu.Unlock()
			return
		}
		id = w.id
		b.mu.Unlock()
	}
}

// takeLocked returns the least recently used live worker with a free
// slot, marking the slot taken, or nil.
func (b *Broker) takeLocked(now time.Time) *worker {
	for len(b.free) > 0 {
		s := b.free[0]
		b.free = b.free[1:]
		w := b.workers[s.id]
		if w == nil || w.gen != s.gen || now.After(w.expiry) {
			continue // a slot of a worker that died or announced itself again
		}
		w.busy++
		return w
	}
	return nil
}

func (b *Broker) enqueueLocked(msg connection.Message) {
	if len(b.queue) >= b.cfg.queueLimit {
		b.dropped.Add(1)
		b.log.Warn("broker queue full: request dropped", "limit", b.cfg.queueLimit)
		return
	}
	b.queue = append(b.queue, queued{msg: msg, at: time.Now()})
}

// dispatchQueuedLocked pairs queued requests with free workers; the
// caller sends them after unlocking.
func (b *Broker) dispatchQueuedLocked(now time.Time) []dispatch {
	var out []dispatch
	for len(b.queue) > 0 {
		w := b.takeLocked(now)
		if w == nil {
			break
		}
		out = append(out, dispatch{id: w.id, msg: b.queue[0].msg})
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
	}
	return out
}

type dispatch struct {
	id  []byte
	msg connection.Message
}

func (b *Broker) serveBackend(ctx context.Context) {
	for {
		msg, err := b.back.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, connection.ErrClosed) {
				return
			}
			b.log.Warn("broker backend receive", "err", err)
			continue
		}
		if len(msg) < 2 {
			b.malformed.Add(1)
			continue
		}
		id, rest := msg[0], msg[1:]
		now := time.Now()
		if len(rest) == 1 {
			b.control(ctx, id, rest[0], now)
			continue
		}
		// A reply [client route..., payload]: the worker is free again.
		sends := b.release(id, now)
		if err := b.front.Send(ctx, rest...); err != nil {
			if ctx.Err() != nil {
				return
			}
			b.unroutable.Add(1)
			b.log.Debug("reply to a client that is gone", "err", err)
		} else {
			b.replies.Add(1)
		}
		for _, d := range sends {
			b.forward(ctx, d.id, d.msg)
		}
	}
}

// release frees a slot of the worker, which finished a request, and
// pairs queued requests with free slots; the caller sends those.
func (b *Broker) release(id []byte, now time.Time) []dispatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.workers[string(id)]
	if w == nil {
		return nil
	}
	w.expiry = now.Add(b.cfg.deadAfter())
	if w.busy == 0 { // a reply from before the worker announced itself again
		return nil
	}
	w.busy--
	b.free = append(b.free, slot{string(id), w.gen})
	return b.dispatchQueuedLocked(now)
}

// control handles a one-frame message from a worker: ready or heartbeat,
// in bytes or as a Heartbeat envelope.
func (b *Broker) control(ctx context.Context, id, frame []byte, now time.Time) {
	var (
		ready, envelope bool
		capacity        = 1
	)
	switch {
	case len(frame) == 1 && frame[0] == signalDropped:
		for _, d := range b.release(id, now) {
			b.forward(ctx, d.id, d.msg)
		}
		return
	case len(frame) >= 1 && (frame[0] == signalReady || frame[0] == signalHeartbeat):
		ready = frame[0] == signalReady
		if c, n := binary.Uvarint(frame[1:]); n > 0 && c > 0 {
			capacity = int(min(c, 1<<16))
		}
	default:
		m, err := messaging.Decode(frame)
		hb, ok := m.(*msglib.Heartbeat)
		if err != nil || !ok {
			b.malformed.Add(1)
			b.log.Warn("broker: unknown control message from worker", "worker", string(id), "err", err)
			return
		}
		envelope = true
		if hb.Capacity > 0 {
			capacity = int(min(hb.Capacity, 1<<16))
		}
	}
	b.mu.Lock()
	w := b.workers[string(id)]
	if w == nil || ready {
		// A new worker, or one that announced itself again (it restarted
		// or reconnected): whatever it had in hand is gone.
		b.gen++
		w = &worker{id: id, gen: b.gen, capacity: capacity, envelope: envelope}
		b.workers[string(id)] = w
		for range capacity {
			b.free = append(b.free, slot{string(id), w.gen})
		}
		b.log.Debug("worker ready", "worker", string(id), "capacity", capacity)
	}
	w.expiry = now.Add(b.cfg.deadAfter())
	sends := b.dispatchQueuedLocked(now)
	b.mu.Unlock()
	for _, d := range sends {
		b.forward(ctx, d.id, d.msg)
	}
	if ready {
		return
	}
	// Heartbeats are answered in kind.
	answer := []byte{signalHeartbeat}
	if envelope {
		answer, _ = messaging.Encode(&msglib.Heartbeat{Id: "broker"})
	}
	b.back.Send(ctx, id, answer)
}

// sweep forgets silent workers and drops requests that waited too long.
func (b *Broker) sweep(ctx context.Context) {
	t := time.NewTicker(b.cfg.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		b.mu.Lock()
		for id, w := range b.workers {
			if now.After(w.expiry) {
				delete(b.workers, id)
				b.deaths.Add(1)
				b.log.Info("worker silent: given up", "worker", id, "in hand", w.busy)
			}
		}
		n := 0
		for n < len(b.queue) && now.Sub(b.queue[n].at) > b.cfg.queueTimeout {
			n++
		}
		if n > 0 {
			clear(b.queue[:n])
			b.queue = b.queue[n:]
			b.expired.Add(uint64(n))
			b.log.Warn("requests waited too long for a worker: dropped", "count", n, "timeout", b.cfg.queueTimeout)
		}
		b.mu.Unlock()
	}
}
