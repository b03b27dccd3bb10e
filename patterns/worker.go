package patterns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/lifecycle"
)

// ErrDrop may be returned by a Worker's handler to drop the request: no reply at
// all, and no log line (the client's retry decides what happens next).
// (messaging.ErrNoReply is another thing: a reply that cannot be sent.)
var ErrDrop = errors.New("dividere: request dropped")

// WorkerStats counts what a worker did.
type WorkerStats struct {
	Handled    uint64 // requests answered
	Failed     uint64 // requests whose handler failed (no reply sent)
	Reconnects uint64 // times the worker gave a broker up for dead and reconnected
	Heartbeats uint64 // heartbeats heard from its brokers (a broker sends them to a worker silent for the interval)
	// Replayed counts resent requests answered with the reply the worker
	// kept, the handler not run again (WithDedup).
	Replayed uint64
	// Kept is how many replies the worker keeps now; Evicted counts those
	// dropped for WithDedup's bounds before their window ended (a request
	// resent after that runs its handler again).
	Kept    int
	Evicted uint64
}

// Worker serves requests from a Broker's back end at the byte level:
// it announces itself (0x01), heartbeats (0x02), hands each request to its
// handler and replies along the request's route. A handler that returns
// an error sends no reply; the error is logged (but ErrDrop) and counted.
//
// Given several brokers' back ends, a worker serves all of them at once
// (active/active), each over a connection of its own with its own
// heartbeats and reconnects; its capacity is shared among them. A
// request resent with the same request id (a Client does so, whichever
// broker carries it) is answered with the reply the worker kept, not run
// again: see WithDedup.
type Worker struct{ engine }

// NewWorker makes a Worker for the broker back end(s) at endpoint (it
// connects there, as connection's package doc says under "Binding or
// connecting"; a comma-separated list names several brokers, each
// served); Serve serves.
func NewWorker(endpoint string, h func(ctx context.Context, request []byte) ([]byte, error), opts ...WorkerOption) (*Worker, error) {
	w := &Worker{}
	cfg := newConfig(opts, WorkerOption.applyWorker)
	err := w.engine.init(endpoint, cfg, byteProtocol{}, func(ctx context.Context, route [][]byte, payload []byte, reply func([]byte) error) error {
		out, err := h(ctx, payload)
		if err != nil {
			return err
		}
		return reply(out)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// byteProtocol is the connection-level control protocol.
type byteProtocol struct{}

func (byteProtocol) ready(capacity int) []byte     { return signal(signalReady, capacity) }
func (byteProtocol) heartbeat(capacity int) []byte { return signal(signalHeartbeat, capacity) }

func signal(b byte, capacity int) []byte {
	if capacity <= 1 {
		return []byte{b} // exactly what the original sends
	}
	return binary.AppendUvarint([]byte{b}, uint64(capacity))
}

// protocol is what differs between the byte and messaging workers.
type protocol interface {
	ready(capacity int) []byte
	heartbeat(capacity int) []byte
}

// handleFunc serves one request; reply sends the answer along its route.
type handleFunc func(ctx context.Context, route [][]byte, payload []byte, reply func([]byte) error) error

// engine is the worker loop both Worker and MsgWorker run: connect,
// announce, heartbeat, serve, and reconnect when the broker goes silent.
type engine struct {
	endpoints []string // one per broker, each with its @ or >
	cfg       config
	proto     protocol
	handle    handleFunc
	log       *slog.Logger
	life      *lifecycle.State
	slots     chan struct{} // one per request in hand, whichever broker sent it: capacity in all
	replay    *replayCache  // nil: WithDedup(0, …)

	handled, failed, reconnects, heartbeats, replayed atomic.Uint64
}

func (e *engine) init(endpoints string, cfg config, p protocol, h handleFunc) error {
	eps, err := endpoint.Parse(endpoints, endpoint.Connect)
	if err != nil {
		return err
	}
	if cfg.identity == "" {
		cfg.identity = endpoint.UniqueIdentity()
	}
	*e = engine{cfg: cfg, proto: p, handle: h, log: cfg.logger.With("worker", cfg.identity), life: lifecycle.New(),
		slots: make(chan struct{}, cfg.capacity), replay: newReplayCache(cfg.dedupLimit, cfg.dedupWindow, cfg.dedupBytes)}
	for _, ep := range eps {
		e.endpoints = append(e.endpoints, explicit(ep))
	}
	return nil
}

// ID returns the worker's identity, as the broker knows it.
func (e *engine) ID() string { return e.cfg.identity }

// Stats returns the worker's counters.
func (e *engine) Stats() WorkerStats {
	kept, evicted := e.replay.stats()
	return WorkerStats{Handled: e.handled.Load(), Failed: e.failed.Load(), Reconnects: e.reconnects.Load(), Heartbeats: e.heartbeats.Load(),
		Replayed: e.replayed.Load(), Kept: kept, Evicted: evicted}
}

// Serve serves until ctx ends (returning ctx's error) or Shutdown or
// Close is called (returning connection.ErrServerClosed). It reconnects on
// its own to a broker that goes silent, waiting one heartbeat interval,
// then twice that, up to WithReconnectBackoffMax, while it goes on
// serving the others. A worker serves once.
func (e *engine) Serve(ctx context.Context) error {
	if err := e.life.Begin(); err != nil {
		return err
	}
	defer e.life.End()
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.life.Killed():
			cancel()
		case <-ctx.Done():
		}
	}()
	stopped := func() error {
		if outer.Err() != nil {
			return outer.Err()
		}
		return connection.ErrServerClosed
	}
	if len(e.endpoints) == 1 {
		return e.run(ctx, e.endpoints[0], stopped)
	}
	errs := make(chan error, len(e.endpoints))
	for _, ep := range e.endpoints {
		go func() { errs <- e.run(ctx, ep, stopped) }()
	}
	err := <-errs
	for range len(e.endpoints) - 1 {
		<-errs
	}
	return err
}

// run serves the broker at endpoint, one session after another, until
// ctx ends or the worker shuts down.
func (e *engine) run(ctx context.Context, endpoint string, stopped func() error) error {
	log := e.log
	if len(e.endpoints) > 1 {
		log = log.With("broker", endpoint)
	}
	backoff := e.cfg.interval
	for {
		healthy, err := e.session(ctx, endpoint)
		if ctx.Err() != nil {
			return stopped()
		}
		select {
		case <-e.life.ShuttingDown():
			return connection.ErrServerClosed
		default:
		}
		if err != nil {
			log.Warn("worker session ended", "err", err)
		}
		if healthy {
			backoff = e.cfg.interval
		}
		e.reconnects.Add(1)
		log.Info("broker silent: reconnecting", "after", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return stopped()
		case <-e.life.ShuttingDown():
			t.Stop()
			return connection.ErrServerClosed
		case <-t.C:
		}
		backoff = min(2*backoff, max(e.cfg.reconnectMax, e.cfg.interval))
	}
}

// session runs one connection to the broker at endpoint until it goes
// silent or ctx ends; healthy tells whether the broker was heard at all.
func (e *engine) session(ctx context.Context, endpoint string) (healthy bool, err error) {
	d, err := connection.NewDealer(endpoint, e.cfg.dealerOptions(
		connection.WithIdentity(e.cfg.identity), connection.WithLinger(0))...)
	if err != nil {
		return false, err
	}
	defer d.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Announce once connected: a broker that is down (or restarting) is
	// waited for here, at the socket's reconnect pace, rather than by
	// sessions that time out one after another with a growing backoff,
	// so that a broker started again gets its workers back as soon as it
	// listens. On either engine: libzmq would queue the announcement and
	// start the silence clock at once.
	wctx, stopWait := context.WithCancel(sctx)
	go func() {
		select {
		case <-e.life.ShuttingDown():
			stopWait()
		case <-wctx.Done():
		}
	}()
	err = d.WaitPeers(wctx, 1)
	stopWait()
	switch {
	case err == nil, errors.Is(err, connection.ErrState): // made WithoutMonitor: nothing to wait on
	case sctx.Err() != nil:
		return false, nil
	default:
		select {
		case <-e.life.ShuttingDown():
			return false, nil
		default:
		}
		return false, err
	}
	if err := d.Send(sctx, e.proto.ready(e.cfg.capacity)); err != nil {
		return false, err
	}
	var lastHeard, lastSent atomic.Int64
	lastHeard.Store(time.Now().UnixNano())
	lastSent.Store(time.Now().UnixNano())
	heartbeat := func() {
		if err := d.Send(sctx, e.proto.heartbeat(e.cfg.capacity)); err != nil && sctx.Err() == nil {
			e.log.Debug("heartbeat not sent", "err", err)
		}
		lastSent.Store(time.Now().UnixNano())
	}
	var heard atomic.Bool
	// capacity goroutines receive and serve: a request is handled on the
	// goroutine that received it, with no hand-off, and no more than
	// capacity are in hand at once. At Shutdown they stop receiving, and
	// finish the requests in hand.
	rctx, stopReceiving := context.WithCancel(sctx)
	defer stopReceiving()
	var receivers sync.WaitGroup
	for range e.cfg.capacity {
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			for {
				msg, err := d.Recv(rctx)
				if err != nil {
					return
				}
				lastHeard.Store(time.Now().UnixNano())
				heard.Store(true)
				if len(msg) == 1 {
					// The broker's heartbeat: it asks whether we are alive
					// (it heartbeats only a worker silent for the interval).
					e.heartbeats.Add(1)
					heartbeat()
					continue
				}
				e.serve(sctx, d, msg)
				lastSent.Store(time.Now().UnixNano())
			}
		}()
	}
	defer func() {
		cancel()
		receivers.Wait()
	}()

	// The original's rule: answer every heartbeat (above), and send one of
	// our own only after sending nothing for one and a half intervals, so
	// that the broker, which heartbeats a worker silent for the interval,
	// and we do not both start one at the same moment. A worker busy with
	// long requests still says it is alive this way.
	t := time.NewTicker(e.cfg.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return heard.Load(), nil
		case <-e.life.ShuttingDown():
			stopReceiving()
			receivers.Wait()
			return heard.Load(), nil
		case <-t.C:
		}
		if silent := time.Since(time.Unix(0, lastHeard.Load())); silent > e.cfg.deadAfter() {
			return heard.Load(), fmt.Errorf("no word from the broker for %v", silent.Round(time.Millisecond))
		}
		if time.Since(time.Unix(0, lastSent.Load())) >= e.cfg.interval*3/2 {
			heartbeat()
		}
	}
}

// Shutdown stops taking requests, finishes those in hand, and waits until
// Serve has returned or ctx ends (then it stops at once). Requests the
// broker sent that were not yet taken are left to the clients' retries.
func (e *engine) Shutdown(ctx context.Context) error {
	_, err := e.life.Shutdown(ctx)
	return err
}

// Close stops the worker at once: the contexts of the requests in hand
// end.
func (e *engine) Close() error {
	e.life.Close()
	return nil
}

// serve handles one request [route..., payload]. A request that carries
// a request id (requestID) and was answered already is answered with the
// kept reply; one whose first attempt is still running waits for it.
func (e *engine) serve(ctx context.Context, d *connection.Dealer, msg connection.Message) {
	id := ""
	if e.replay != nil {
		id = requestID(msg)
	}
	var entry *replayEntry
	for id != "" {
		var first bool
		entry, first = e.replay.begin(id, time.Now())
		if first {
			break
		}
		select {
		case <-e.replay.wait(entry):
		case <-ctx.Done():
			return
		}
		if entry.reply == nil {
			continue // the first attempt answered nothing: this one runs
		}
		if err := d.Send(ctx, msg.Reply(entry.reply)...); err != nil && ctx.Err() == nil {
			e.log.Debug("replayed reply not sent", "err", err)
		}
		e.replayed.Add(1)
		return
	}
	// With several brokers a slot is taken for the handler, so that the
	// worker holds no more than its capacity in all, and the reply is
	// sent once the slot is free again: a send to a broker that just
	// died waits until the session gives it up, and must not hold up the
	// other brokers' requests. With one broker the receivers are the
	// slots.
	multi := len(e.endpoints) > 1
	if multi {
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			if entry != nil {
				e.replay.finish(entry, nil, time.Now())
			}
			return
		}
	}
	var out []byte // the reply, when it is kept or sent later
	replied := false
	reply := func(b []byte) error {
		if replied {
			return nil
		}
		replied = true
		if entry != nil || multi {
			if out = bytes.Clone(b); out == nil {
				out = []byte{}
			}
		}
		if multi {
			return nil
		}
		return d.Send(ctx, msg.Reply(b)...)
	}
	err := e.handle(ctx, msg.Route(), msg.Payload(), reply)
	if multi {
		<-e.slots
	}
	if entry != nil {
		keep := out
		if ctx.Err() != nil {
			// The worker's own stop (its session ended, Close) cut the
			// handler short: what it answered (a refusal, most likely)
			// is no answer to replay; a retry runs the request again.
			keep = nil
		}
		e.replay.finish(entry, keep, time.Now())
	}
	if replied && multi {
		if serr := d.Send(ctx, msg.Reply(out)...); serr != nil && ctx.Err() == nil {
			e.log.Debug("reply not sent", "err", serr)
		}
	}
	if err != nil {
		e.failed.Add(1)
		switch {
		case errors.Is(err, ErrDrop):
		case ctx.Err() != nil:
			e.log.Debug("handler cut short: the worker is stopping", "err", err)
		default:
			e.log.Warn("handler failed", "err", err)
		}
		if !replied && ctx.Err() == nil {
			// Free the slot at the broker, or it would wait for this
			// reply forever.
			d.Send(ctx, []byte{signalDropped})
		}
		return
	}
	e.handled.Add(1)
}
