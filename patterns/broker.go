package patterns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/lifecycle"
	"github.com/dividere-go/dividere/internal/msgserve"
	"github.com/dividere-go/dividere/internal/ratelog"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// Control signals of the byte-level protocol (docs/protocol.md).
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
//
// What a worker announces cannot make the broker grow: its memory is
// O(workers + queued requests), capacities are capped at 1024, and an
// announcement replaces what the worker said before. Nor can a worker
// that takes requests and answers none swallow many: a new worker gets 2
// requests at first and one more for every reply, and a
// worker that has answered nothing for a client's timeout (WithRetry)
// gets no more until it does.
type Broker struct {
	front, back *connection.Router
	cfg         config
	log         *slog.Logger
	warn        *ratelog.Limiter
	life        *lifecycle.State
	freed       sync.Once

	mu      sync.Mutex
	workers map[string]*worker
	ready   []*worker // workers that may take a request now, least recently used first; each at most once
	queue   []queued  // requests waiting for a worker, oldest first
	qbytes  int64     // the size of the requests in queue

	requests, replies, dropped, expired, late, unroutable, malformed, deaths, stalls atomic.Uint64
	heartbeatsIn, heartbeatsOut                                                      atomic.Uint64
}

// Limits on what a worker can make the broker do.
const (
	// maxCapacity is the most requests one worker may hold at once,
	// whatever it announces.
	maxCapacity = 1024
	// initialCredit is how many requests a worker that has not answered
	// yet may hold (fewer if it announced fewer); each reply raises its
	// credit by one, up to its capacity.
	initialCredit = 2
)

// worker is what the broker knows of one worker.
type worker struct {
	id       []byte
	capacity int // announced, at most maxCapacity
	credit   int // how many it may hold now, at most capacity
	busy     int
	expiry   time.Time // when its silence makes it dead
	heard    time.Time // its last message
	pinged   time.Time // the broker's last heartbeat to it
	progress time.Time // last reply, or when it was last given work while idle
	queued   bool      // in Broker.ready
	gone     bool      // forgotten (dead, or unreachable)
	envelope bool      // speaks Heartbeat envelopes rather than 0x01/0x02
	// original: it announced no capacity, as the original's workers do,
	// and follows their rule: any message from it, a heartbeat included,
	// says it is free again (it has no 0x03 for a request it dropped).
	original bool
}

// available reports whether w may be given a request at now.
func (w *worker) available(now time.Time, stallAfter time.Duration) bool {
	if w.gone || w.busy >= w.credit || now.After(w.expiry) {
		return false
	}
	// A worker holding requests it has not answered for longer than a
	// client waits is stuck (or a black hole): feed it no more for now.
	return w.busy == 0 || now.Sub(w.progress) <= stallAfter
}

// size is the bytes a message holds.
func size(m connection.Message) int64 {
	var n int64
	for _, f := range m {
		n += int64(len(f))
	}
	return n
}

type queued struct {
	msg      connection.Message // [client route..., payload]
	at       time.Time
	deadline time.Time // the client's (its envelope's header.timeout_us); zero when none
}

// queuedAt is msg queued at now. A request in a dividere envelope whose
// header carries the client's remaining time is given up when that time
// has passed: no worker would be thanked for it.
func queuedAt(msg connection.Message, now time.Time) queued {
	q := queued{msg: msg, at: now}
	if _, h, err := messaging.DecodeHeader(msg.Payload()); err == nil {
		q.deadline, _ = msgserve.Deadline(h, now)
	}
	return q
}

func (q queued) late(now time.Time) bool { return !q.deadline.IsZero() && !now.Before(q.deadline) }

// NewBroker binds (or connects, as connection's package doc says under
// "Binding or connecting") its front end for clients and back end for
// workers; Serve serves.
func NewBroker(frontend, backend string, opts ...BrokerOption) (*Broker, error) {
	cfg := newConfig(opts, BrokerOption.applyBroker)
	front, err := connection.NewRouter(frontend, cfg.routerOptions(connection.WithName("broker-frontend"))...)
	if err != nil {
		return nil, err
	}
	back, err := connection.NewRouter(backend, cfg.routerOptions(connection.WithName("broker-backend"))...)
	if err != nil {
		front.Close()
		return nil, err
	}
	return &Broker{front: front, back: back, cfg: cfg, log: cfg.logger, warn: ratelog.Default(),
		life: lifecycle.New(), workers: map[string]*worker{}}, nil
}

// Serve hands requests to workers until ctx ends (returning ctx's
// error), or Shutdown or Close is called (returning
// connection.ErrServerClosed). It closes both ends when it returns. A
// broker serves once.
func (b *Broker) Serve(ctx context.Context) error {
	if err := b.life.Begin(); err != nil {
		return err
	}
	defer b.life.End()
	defer b.free()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frontCtx, stopFront := context.WithCancel(ctx)
	defer stopFront()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.serve(ctx, frontCtx) }()
	go func() { defer wg.Done(); b.sweep(ctx) }()
	defer func() { cancel(); wg.Wait() }() // before free: the loops use the sockets
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.life.Killed():
		return connection.ErrServerClosed
	case <-b.life.ShuttingDown():
	}
	// Shutdown: take no more requests; hand out those queued, and pass the
	// replies back of those in hand, until there are none (or ctx ends,
	// or Close).
	stopFront()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !b.idle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.life.Killed():
			return connection.ErrServerClosed
		case <-t.C:
		}
	}
	return connection.ErrServerClosed
}

// idle reports whether the broker holds no request: none queued, none
// given to a live worker and not yet answered.
func (b *Broker) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) > 0 {
		return false
	}
	for _, w := range b.workers {
		if w.busy > 0 {
			return false
		}
	}
	return true
}

// Shutdown stops taking requests, lets those in hand be answered, and
// waits until Serve has returned or ctx ends (then it closes at once).
func (b *Broker) Shutdown(ctx context.Context) error {
	return lifecycle.WithRelease(b.life, b.free).ShutdownFree(ctx)
}

// Close stops the broker at once; requests in its queue are dropped. It
// returns once Serve has, its sockets closed (their ports free again).
func (b *Broker) Close() error { return lifecycle.WithRelease(b.life, b.free).CloseFree(true) }

// free closes both ends, once.
func (b *Broker) free() {
	b.freed.Do(func() {
		b.front.Close()
		b.back.Close()
	})
}

// Frontend returns the endpoint clients connect to.
func (b *Broker) Frontend() string { return b.front.Endpoint() }

// Backend returns the endpoint workers connect to.
func (b *Broker) Backend() string { return b.back.Endpoint() }

// BrokerStats counts what a Broker did.
type BrokerStats struct {
	Requests uint64 // requests received from clients
	Replies  uint64 // replies passed back to clients
	Queued   int    // requests waiting for a worker now
	Dropped  uint64 // requests refused because the queue was full (WithQueue's limit or bytes)
	Expired  uint64 // requests dropped after waiting WithQueue's timeout for a worker
	// Late counts queued requests dropped because their client's deadline
	// (the envelope header's timeout_us) passed before a worker was free;
	// they never reach a worker.
	Late       uint64
	Unroutable uint64 // replies whose client was gone
	Malformed  uint64 // messages that fit no part of the protocol
	Workers    int    // live workers now
	Deaths     uint64 // workers given up for silence
	Stalls     uint64 // times a worker was found holding requests unanswered past the clients' timeout
	// Heartbeats from workers (announcements included), and to them (sent
	// to a worker silent for the interval).
	HeartbeatsIn, HeartbeatsOut uint64
}

// Stats returns the broker's counters.
func (b *Broker) Stats() BrokerStats {
	b.mu.Lock()
	q, w := len(b.queue), len(b.workers)
	b.mu.Unlock()
	return BrokerStats{
		Requests: b.requests.Load(), Replies: b.replies.Load(), Queued: q,
		Dropped: b.dropped.Load(), Expired: b.expired.Load(), Late: b.late.Load(), Unroutable: b.unroutable.Load(),
		Malformed: b.malformed.Load(), Workers: w, Deaths: b.deaths.Load(), Stalls: b.stalls.Load(),
		HeartbeatsIn: b.heartbeatsIn.Load(), HeartbeatsOut: b.heartbeatsOut.Load(),
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

// serve is the broker's loop: one goroutine serves both ends, waiting on
// them at once as a broker on raw libzmq polls them, rather than one
// goroutine each handing off through the sockets' locks. Replies are
// taken first (they free workers). Once frontCtx ends (Shutdown) it takes
// no more requests and goes on with replies until ctx ends.
func (b *Broker) serve(ctx, frontCtx context.Context) {
	// stopped says whether err ends the loop: the broker stopping or its
	// sockets closed.
	stopped := func(err error) bool { return ctx.Err() != nil || errors.Is(err, connection.ErrClosed) }
	for {
		front := frontCtx.Err() == nil
		i, err := 0, error(nil)
		if front {
			i, err = connection.WaitAny(frontCtx, b.back, b.front)
		} else {
			i, err = connection.WaitAny(ctx, b.back)
		}
		var msg connection.Message
		if err == nil && i == 0 {
			msg, err = b.back.Recv(ctx)
		} else if err == nil {
			msg, err = b.front.Recv(frontCtx)
		}
		switch {
		case err == nil && i == 0:
			b.fromWorker(ctx, msg)
		case err == nil:
			b.fromClient(ctx, msg)
		case stopped(err):
			return
		case front && frontCtx.Err() != nil:
			// shutting down: replies only from now on
		default:
			b.log.Warn("broker receive", "err", err)
		}
	}
}

// fromClient hands a request to a worker, or queues it.
func (b *Broker) fromClient(ctx context.Context, msg connection.Message) {
	if len(msg) < 2 { // a ROUTER always adds the identity
		b.malformed.Add(1)
		b.warn.Warn(b.log, "broker: malformed request from a client", "frames", len(msg))
		return
	}
	b.requests.Add(1)
	if b.cfg.forward != nil {
		b.hook(ctx, msg)
	}
	b.mu.Lock()
	w := b.takeLocked(time.Now())
	if w == nil {
		b.enqueueLocked(msg)
		b.mu.Unlock()
		return
	}
	id := w.id
	b.mu.Unlock()
	b.forward(ctx, id, msg)
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
			b.forgetLocked(w)
			b.deaths.Add(1)
		}
		w := b.takeLocked(time.Now())
		if w == nil {
			b.queue = append([]queued{queuedAt(msg, time.Now())}, b.queue...) // it keeps its place
			b.qbytes += size(msg)
			b.mu.Unlock()
			return
		}
		id = w.id
		b.mu.Unlock()
	}
}

// takeLocked returns the least recently used worker that may take a
// request, counting the request against it, or nil. A worker that may
// take more goes to the back of the line, so that requests spread over
// the workers rather than filling one.
func (b *Broker) takeLocked(now time.Time) *worker {
	stallAfter := b.cfg.timeout
	for len(b.ready) > 0 {
		w := b.ready[0]
		b.ready[0] = nil
		b.ready = b.ready[1:]
		w.queued = false
		if !w.available(now, stallAfter) {
			if !w.gone && w.busy > 0 && w.busy < w.credit && !now.After(w.expiry) {
				b.stalls.Add(1)
				b.warn.Warn(b.log, "broker: worker holds requests it has not answered past the clients' timeout; feeding it no more until it answers",
					"worker", string(w.id), "in hand", w.busy)
			}
			continue // it comes back when it answers, or when it announces itself again
		}
		if w.busy == 0 {
			w.progress = now
		}
		w.busy++
		b.offerLocked(w, now)
		return w
	}
	return nil
}

// offerLocked puts w at the back of the line if it may take a request.
func (b *Broker) offerLocked(w *worker, now time.Time) {
	if !w.queued && w.available(now, b.cfg.timeout) {
		w.queued = true
		b.ready = append(b.ready, w)
	}
}

// forgetLocked forgets a worker; its place in line, if any, is skipped.
func (b *Broker) forgetLocked(w *worker) {
	w.gone = true
	delete(b.workers, string(w.id))
}

func (b *Broker) enqueueLocked(msg connection.Message) {
	n := size(msg)
	if len(b.queue) >= b.cfg.queueLimit || b.qbytes+n > b.cfg.queueBytes {
		b.dropped.Add(1)
		b.warn.Warn(b.log, "broker queue full: request dropped", "limit", b.cfg.queueLimit, "bytes limit", b.cfg.queueBytes)
		return
	}
	b.queue = append(b.queue, queuedAt(msg, time.Now()))
	b.qbytes += n
}

// dispatchQueuedLocked pairs queued requests with free workers; the
// caller sends them after unlocking.
func (b *Broker) dispatchQueuedLocked(now time.Time) []dispatch {
	var out []dispatch
	for len(b.queue) > 0 {
		if b.queue[0].late(now) {
			b.dropLateLocked()
			continue
		}
		w := b.takeLocked(now)
		if w == nil {
			break
		}
		out = append(out, dispatch{id: w.id, msg: b.queue[0].msg})
		b.qbytes -= size(b.queue[0].msg)
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
	}
	return out
}

// dropLateLocked drops the first queued request, which is late.
func (b *Broker) dropLateLocked() {
	b.qbytes -= size(b.queue[0].msg)
	b.queue[0] = queued{}
	b.queue = b.queue[1:]
	b.late.Add(1)
	b.warn.Warn(b.log, "broker: a queued request's client deadline passed: dropped")
}

type dispatch struct {
	id  []byte
	msg connection.Message
}

// hook gives a request's header to the forward hook and puts what it
// made of it in the request (a request that is no envelope goes on as it
// is: the worker says what is wrong with it).
func (b *Broker) hook(ctx context.Context, msg connection.Message) {
	payload := msg[len(msg)-1]
	_, h, err := messaging.DecodeHeader(payload)
	if err != nil {
		return
	}
	if h == nil {
		h = &messaging.Header{}
	}
	b.cfg.forward(ctx, h)
	if out, err := msgserve.ReplaceHeader(payload, h); err == nil {
		msg[len(msg)-1] = out
	}
}

// fromWorker handles a message from a worker: a control frame, or a
// reply to pass back to its client (which frees the worker).
func (b *Broker) fromWorker(ctx context.Context, msg connection.Message) {
	if len(msg) < 2 {
		b.malformed.Add(1)
		b.warn.Warn(b.log, "broker: malformed message from a worker", "frames", len(msg))
		return
	}
	id, rest := msg[0], msg[1:]
	now := time.Now()
	if len(rest) == 1 {
		b.control(ctx, id, rest[0], now)
		return
	}
	// A reply [client route..., payload]: the worker is free again.
	sends := b.release(id, now, true)
	// Counted before it is sent, so that a client holding its reply
	// never sees a count without it.
	b.replies.Add(1)
	if err := b.front.Send(ctx, rest...); err != nil {
		b.replies.Add(^uint64(0))
		if ctx.Err() != nil {
			return
		}
		b.unroutable.Add(1)
		b.log.Debug("reply to a client that is gone", "err", err)
	}
	for _, d := range sends {
		b.forward(ctx, d.id, d.msg)
	}
}

// release records that the worker finished a request (answered, or
// with 0x03 dropped it) and pairs queued requests with the workers that
// may take them; the caller sends those.
func (b *Broker) release(id []byte, now time.Time, answered bool) []dispatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.workers[string(id)]
	if w == nil {
		return nil
	}
	w.heard, w.expiry = now, now.Add(b.cfg.deadAfter())
	if w.busy == 0 { // a reply from before the worker announced itself again
		return nil
	}
	w.busy--
	w.progress = now
	if answered && w.credit < w.capacity {
		w.credit++
	}
	b.offerLocked(w, now)
	return b.dispatchQueuedLocked(now)
}

// control handles a one-frame message from a worker: ready or heartbeat,
// in bytes or as a Heartbeat envelope. A worker that announces a capacity
// (a dividere worker) keeps count of what it holds; one that does not (the
// original's) is free again with any message, as in the original.
// Heartbeats are not answered: the broker heartbeats a worker only when
// it has been silent for the interval (the original's rule, which keeps
// an idle pair at one heartbeat each way per interval; answering every
// heartbeat made an endless ping-pong with the original's workers, which
// answer every heartbeat too).
func (b *Broker) control(ctx context.Context, id, frame []byte, now time.Time) {
	var (
		ready, envelope bool
		capacity        = 1
		announced       bool // a capacity came with it
	)
	switch {
	case len(frame) == 1 && frame[0] == signalDropped:
		for _, d := range b.release(id, now, false) {
			b.forward(ctx, d.id, d.msg)
		}
		return
	case len(frame) >= 1 && (frame[0] == signalReady || frame[0] == signalHeartbeat):
		ready = frame[0] == signalReady
		if c, n := binary.Uvarint(frame[1:]); n > 0 && c > 0 {
			capacity, announced = int(min(c, maxCapacity)), true
		}
	default:
		m, _, err := messaging.Decode(frame, nil)
		hb, ok := m.(*msglib.Heartbeat)
		if err != nil || !ok {
			b.malformed.Add(1)
			b.warn.Warn(b.log, "broker: unknown control message from worker", "worker", string(id), "err", err)
			return
		}
		envelope = true
		if hb.Capacity > 0 {
			capacity, announced = int(min(hb.Capacity, maxCapacity)), true
		}
	}
	b.heartbeatsIn.Add(1)
	b.mu.Lock()
	w := b.workers[string(id)]
	if w == nil {
		w = &worker{id: id}
		b.workers[string(id)] = w
		ready = true
	}
	if ready || w.original != !announced {
		// A new worker, or one that announced itself again (it restarted
		// or reconnected): whatever it had in hand is gone, and what it
		// announces now replaces what it announced before.
		w.capacity, w.credit, w.busy, w.envelope = capacity, min(capacity, initialCredit), 0, envelope
		w.original = !announced
		b.log.Debug("worker ready", "worker", string(id), "capacity", capacity, "original", w.original)
	}
	if w.original {
		w.busy = 0 // whatever it was given, it is free now
	}
	w.heard, w.expiry = now, now.Add(b.cfg.deadAfter())
	b.offerLocked(w, now)
	sends := b.dispatchQueuedLocked(now)
	b.mu.Unlock()
	for _, d := range sends {
		b.forward(ctx, d.id, d.msg)
	}
}

// heartbeat sends a worker the broker's heartbeat, in its language.
func (b *Broker) heartbeat(ctx context.Context, id []byte, envelope bool) {
	hb := []byte{signalHeartbeat}
	if envelope {
		hb, _ = messaging.Encode(&msglib.Heartbeat{Id: "broker"}, nil)
	}
	if b.back.Send(ctx, id, hb) == nil {
		b.heartbeatsOut.Add(1)
	}
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
		type ping struct {
			id       []byte
			envelope bool
		}
		var pings []ping
		b.mu.Lock()
		for id, w := range b.workers {
			switch {
			case now.After(w.expiry):
				b.forgetLocked(w)
				b.deaths.Add(1)
				b.warn.Log(b.log, slog.LevelInfo, "worker silent: given up", "worker", id, "in hand", w.busy)
			case now.Sub(w.heard) >= b.cfg.interval && now.Sub(w.pinged) >= b.cfg.interval:
				w.pinged = now
				pings = append(pings, ping{w.id, w.envelope})
			}
		}
		// Workers forgotten while in line would stay there until their
		// turn: drop them now, so the line never outgrows the workers.
		b.ready = slices.DeleteFunc(b.ready, func(w *worker) bool { return w.gone })
		before := len(b.queue)
		b.queue = slices.DeleteFunc(b.queue, func(q queued) bool {
			if q.late(now) {
				b.qbytes -= size(q.msg)
				return true
			}
			return false
		})
		if n := before - len(b.queue); n > 0 {
			b.late.Add(uint64(n))
			b.warn.Warn(b.log, "broker: queued requests whose client's deadline passed: dropped", "count", n)
		}
		n := 0
		for n < len(b.queue) && now.Sub(b.queue[n].at) > b.cfg.queueTimeout {
			b.qbytes -= size(b.queue[n].msg)
			n++
		}
		if n > 0 {
			clear(b.queue[:n])
			b.queue = b.queue[n:]
			b.expired.Add(uint64(n))
			b.warn.Warn(b.log, "requests waited too long for a worker: dropped", "count", n, "timeout", b.cfg.queueTimeout)
		}
		b.mu.Unlock()
		for _, p := range pings {
			b.heartbeat(ctx, p.id, p.envelope)
		}
	}
}
