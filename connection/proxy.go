package connection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/lifecycle"
	"github.com/dividere-go/dividere/internal/zmtp"
)

// Proxy forwards messages between a front end and a back end, frames
// unchanged: in libzmq's own proxy loop on libzmq, in two goroutines (one
// a direction) on the Go engine. NewProxy makes the request/reply kind
// (ROUTER front end for Request and Dealer clients, DEALER back end for
// Response and Dealer workers); NewPubSubProxy makes the
// publish/subscribe kind (XSUB front end for publishers, XPUB back end
// for subscribers). Both ends bind by default.
//
// It follows the serving model of every dividere server: the constructor
// binds and starts nothing, Serve forwards until stopped, Shutdown and
// Close stop it (a proxy holds no work of its own, so both stop at once).
// libzmq's loop is stopped through a control socket, never by closing
// sockets under it (which crashes libzmq's proxy), so stopping is prompt
// and safe.
type Proxy struct {
	Frontend *Socket // where clients (or publishers) attach
	Backend  *Socket // where workers (or subscribers) attach

	proxyZ  // the libzmq loop's control pair
	name    string
	log     *slog.Logger
	life    *lifecycle.State
	release sync.Once
}

var proxySeq atomic.Uint64

// NewProxy makes a ROUTER/DEALER proxy, its ends bound; Serve runs it.
func NewProxy(frontend, backend string, opts ...Option) (*Proxy, error) {
	return newProxy(zmtp.ROUTER, frontend, zmtp.DEALER, backend, opts)
}

// NewPubSubProxy makes an XSUB/XPUB proxy: publishers connect to the
// front end, subscribers to the back end, and subscriptions travel
// upstream. Serve runs it.
func NewPubSubProxy(frontend, backend string, opts ...Option) (*Proxy, error) {
	return newProxy(zmtp.XSUB, frontend, zmtp.XPUB, backend, opts)
}

func newProxy(ft zmtp.Type, fe string, bt zmtp.Type, be string, opts []Option) (*Proxy, error) {
	cfg := newConfig(opts, Option.apply)
	name := cfg.name
	if name == "" {
		name = fmt.Sprintf("proxy-%d", proxySeq.Add(1))
	}
	fcfg, bcfg := cfg, cfg
	fcfg.name, bcfg.name = name+"-frontend", name+"-backend"
	if bt == zmtp.XPUB && !bcfg.maxMsgSizeSet {
		bcfg.maxMsgSize = defaultSubscriptionMaxSize // it receives only subscriptions
	}
	front, err := newSocket(kind{typ: ft}, fe, endpoint.Bind, fcfg)
	if err != nil {
		return nil, err
	}
	back, err := newSocket(kind{typ: bt}, be, endpoint.Bind, bcfg)
	if err != nil {
		front.Close()
		return nil, err
	}
	p := &Proxy{Frontend: front, Backend: back, name: name, log: cfg.logger, life: lifecycle.New()}
	if front.g == nil {
		if err := p.openControl(cfg); err != nil {
			front.Close()
			back.Close()
			return nil, err
		}
	}
	return p, nil
}

// Serve forwards messages until ctx ends (returning ctx's error), or
// Shutdown or Close is called (returning ErrServerClosed), or the loop
// fails. It closes both ends when it returns. A proxy serves once.
func (p *Proxy) Serve(ctx context.Context) error {
	if err := p.life.Begin(); err != nil {
		return err
	}
	defer p.life.End()
	if p.Frontend.g == nil {
		return p.serveLibzmq(ctx)
	}
	return p.serveGo(ctx)
}

// serveGo forwards in both directions, a goroutine each, until ctx ends
// or the proxy is stopped.
func (p *Proxy) serveGo(ctx context.Context) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loop := make(chan error, 2)
	forward := func(from, to *zmtp.Socket) {
		for {
			m, err := from.Recv(fctx)
			if err == nil {
				err = to.Send(fctx, m)
			}
			if err != nil {
				loop <- err
				return
			}
		}
	}
	go forward(p.Frontend.g, p.Backend.g)
	go forward(p.Backend.g, p.Frontend.g)
	var err error
	ended := 0
	select {
	case err = <-loop:
		ended++
	case <-ctx.Done():
	case <-p.life.ShuttingDown():
	}
	cancel()
	for ; ended < 2; ended++ {
		<-loop
	}
	p.free()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, zmtp.ErrClosed):
		p.log.Warn("proxy stopped", "proxy", p.name, "err", err)
		return engineErr("proxy", err)
	}
	return ErrServerClosed
}

// free closes the control pair and both ends, once.
func (p *Proxy) free() {
	p.release.Do(func() {
		p.closeControl()
		p.Frontend.Close()
		p.Backend.Close()
	})
}

// Shutdown stops the proxy and waits until Serve has returned or ctx
// ends. A proxy holds no work of its own: messages in its sockets' queues
// are dropped.
func (p *Proxy) Shutdown(ctx context.Context) error {
	return lifecycle.WithRelease(p.life, p.free).ShutdownFree(ctx)
}

// Close stops the proxy at once; Serve returns ErrServerClosed. It
// returns once Serve has, its sockets closed (their ports free again).
func (p *Proxy) Close() error { return lifecycle.WithRelease(p.life, p.free).CloseFree(true) }
