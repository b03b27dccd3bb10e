package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/zmtp"
)

// The Go engine's side of Socket. Its sockets are goroutine-safe and wait
// on channels by themselves, so this is mostly a translation of options
// and errors.

// openGo makes s's socket on the pure-Go engine.
func (s *Socket) openGo(k kind) error {
	opt, err := s.cfg.goOptions(k)
	if err != nil {
		return err
	}
	s.gwake = make(chan struct{}, 1)
	if s.cfg.monitor {
		s.mon = newMonitor(s)
		opt.Events = s.mon.fromEngine
	}
	g, err := zmtp.New(k.typ, opt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOption, err)
	}
	s.g = g
	if s.mon != nil {
		go s.mon.runGo()
	}
	for _, t := range k.topics {
		if err := g.Subscribe([]byte(t)); err != nil {
			g.Close()
			return fmt.Errorf("subscribe %q: %w", t, err)
		}
	}
	return nil
}

// goOptions translates the socket's options for the Go engine, whose
// zero values are its defaults and whose "no limit" is a negative number.
func (c *config) goOptions(k kind) (zmtp.Options, error) {
	unlimited := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	o := zmtp.Options{
		SendHWM:           unlimited(c.sendHWM),
		RecvHWM:           unlimited(c.recvHWM),
		Linger:            c.linger,
		ReconnectInterval: c.reconnect,
		MaxMessageSize:    c.maxMsgSize,
		Backlog:           c.backlog,
		Identity:          []byte(c.identity),
		Immediate:         c.immediate,
		RouterMandatory:   k.routerMandatory,
		RouterHandover:    k.routerHandover,
		XPubVerbose:       k.xpubVerbose,
		XPubNoDrop:        k.xpubNoDrop,
		Logger:            c.logger,
	}
	if c.reconnect <= 0 {
		o.ReconnectInterval = -1
	}
	if c.reconnectMax >= c.reconnect {
		o.ReconnectIntervalMax = c.reconnectMax
	}
	if c.heartbeat > 0 {
		o.HeartbeatInterval, o.HeartbeatTimeout = c.heartbeat, c.heartbeatTmout
	}
	if err := c.goCurve(&o); err != nil {
		return o, err
	}
	return o, nil
}

func (s *Socket) attachGo(ep endpoint.Endpoint) error {
	if ep.Role == endpoint.Bind {
		last, err := s.g.Bind(ep.Addr)
		if err != nil {
			return fmt.Errorf("bind %s: %w: %w", ep.Addr, ErrEndpoint, err)
		}
		s.bound = append(s.bound, last)
		return nil
	}
	if err := s.g.Connect(ep.Addr); err != nil {
		return fmt.Errorf("connect %s: %w: %w", ep.Addr, ErrEndpoint, err)
	}
	return nil
}

// closeFlush is the longest Close waits, on the Go engine, for what is
// queued to be written out (the linger time, when shorter). A program
// that sends a last reply and exits would otherwise lose it: libzmq's
// I/O thread writes a message the moment it is sent, while the engine's
// writer may not have run yet when Close comes.
const closeFlush = 250 * time.Millisecond

// closeGo closes the engine's socket: its listeners are closed when
// Close returns, its connections drain for the linger time (Close waits
// for that up to closeFlush, and the rest goes on in the background),
// and the monitor goroutine ends after them.
func (s *Socket) closeGo() error {
	err := s.g.Close()
	wait := closeFlush
	if s.cfg.linger >= 0 && s.cfg.linger < wait {
		wait = s.cfg.linger
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-s.g.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return engineErr("close", err)
}

// goErr turns an engine error of a call made with ctx into the
// package's: a context's end becomes ctxErr, a closed socket ErrClosed.
func (s *Socket) goErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ctxErr(ctx)
	case errors.Is(err, zmtp.ErrClosed):
		return ErrClosed
	}
	return err
}

// doGo is do on the Go engine.
func (s *Socket) doGo(ctx context.Context, try func() error) error {
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return ErrClosed
		}
		err := try()
		s.mu.Unlock()
		if !isAgain(err) {
			return err
		}
		select {
		case <-s.g.RecvNotify():
		case <-s.gwake:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-s.done:
			return ErrClosed
		}
	}
}

// sendGo sends on the Go engine, waiting as sendWith documents.
func (s *Socket) sendGo(ctx context.Context, frames [][]byte, before func()) error {
	if before != nil {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return ErrClosed
		}
		before()
		s.mu.Unlock()
	}
	err := s.g.TrySend(frames)
	if !errors.Is(err, zmtp.ErrAgain) {
		return s.goErr(ctx, err)
	}
	wctx, cancel := s.sendWaitCtx(ctx)
	defer cancel()
	err = s.goErr(wctx, s.g.Send(wctx, frames))
	if s.sendWait > 0 && ctx.Err() == nil && errors.Is(err, ErrTimeout) {
		s.mu.Lock()
		retry := !s.closed.Load() && s.sendStuck()
		s.mu.Unlock()
		if retry {
			err = s.goErr(ctx, s.g.TrySend(frames))
		}
	}
	if err != nil && ctx.Err() != nil {
		return ctxErr(ctx)
	}
	return err
}

// recvGo receives on the Go engine; user asks for the peer's User-Id.
func (s *Socket) recvGo(ctx context.Context, user bool) (Message, string, error) {
	var m [][]byte
	var p *zmtp.PeerInfo
	var err error
	if user {
		m, p, err = s.g.RecvFrom(ctx)
	} else {
		m, err = s.g.Recv(ctx)
	}
	if err != nil {
		return nil, "", s.goErr(ctx, err)
	}
	for _, f := range m {
		if len(f) >= largeFrame {
			noteLargeFrame()
			break
		}
	}
	id := ""
	if p != nil {
		id = p.UserID
	}
	return Message(m), id, nil
}
