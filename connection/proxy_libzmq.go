package connection

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/internal/lifecycle"
)

// Proxy forwards messages between a front end and a back end in libzmq's
// own proxy loop, frames unchanged. NewProxy makes the request/reply kind
// (ROUTER front end for Request and Dealer clients, DEALER back end for
// Response and Dealer workers); NewPubSubProxy makes the publish/subscribe
// kind (XSUB front end for publishers, XPUB back end for subscribers).
// Both ends bind by default.
//
// It follows the serving model of every dividere server: the constructor
// binds and starts nothing, Serve forwards until stopped, Shutdown and
// Close stop it (a proxy holds no work of its own, so both stop at once).
// The loop is stopped through a control socket, never by closing sockets
// under it (which crashes libzmq's proxy), so stopping is prompt and safe.
type Proxy struct {
	Frontend *Socket // where clients (or publishers) attach
	Backend  *Socket // where workers (or subscribers) attach

	name      string
	log       *slog.Logger
	ctl, peer *zmq.Socket // the control pair: ours, and the loop's
	life      *lifecycle.State
	release   sync.Once
	err       error // a stuck loop, found by Serve
}

var proxySeq atomic.Uint64

// NewProxy makes a ROUTER/DEALER proxy, its ends bound; Serve runs it.
func NewProxy(frontend, backend string, opts ...Option) (*Proxy, error) {
	return newProxy(zmq.ROUTER, frontend, zmq.DEALER, backend, opts)
}

// NewPubSubProxy makes an XSUB/XPUB proxy: publishers connect to the
// front end, subscribers to the back end, and subscriptions travel
// upstream. Serve runs it.
func NewPubSubProxy(frontend, backend string, opts ...Option) (*Proxy, error) {
	return newProxy(zmq.XSUB, frontend, zmq.XPUB, backend, opts)
}

func newProxy(ft zmq.Type, fe string, bt zmq.Type, be string, opts []Option) (*Proxy, error) {
	cfg := newConfig(opts)
	name := cfg.name
	if name == "" {
		name = fmt.Sprintf("proxy-%d", proxySeq.Add(1))
	}
	fcfg, bcfg := cfg, cfg
	fcfg.name, bcfg.name = name+"-frontend", name+"-backend"
	if bt == zmq.XPUB && !bcfg.maxMsgSizeSet {
		bcfg.maxMsgSize = DefaultSubscriptionMaxSize // it receives only subscriptions
	}
	front, err := newSocket(ft, fe, Bind, fcfg, nil)
	if err != nil {
		return nil, err
	}
	back, err := newSocket(bt, be, Bind, bcfg, nil)
	if err != nil {
		front.Close()
		return nil, err
	}
	addr := fmt.Sprintf("inproc://dividere-%s-control", name)
	zc, err := zmqContext(cfg) // the control pair meets over inproc: in the ends' context
	var ctl, peer *zmq.Socket
	if err == nil {
		ctl, err = zc.NewSocket(zmq.PAIR)
	}
	if err == nil {
		err = ctl.Bind(addr)
	}
	if err == nil {
		peer, err = zc.NewSocket(zmq.PAIR)
	}
	if err == nil {
		err = peer.Connect(addr)
	}
	if err != nil {
		for _, z := range []*zmq.Socket{ctl, peer} {
			if z != nil {
				z.Close()
			}
		}
		front.Close()
		back.Close()
		return nil, zmqErr("proxy control", err)
	}
	return &Proxy{Frontend: front, Backend: back, name: name, log: cfg.logger, ctl: ctl, peer: peer, life: lifecycle.New()}, nil
}

// Serve forwards messages until ctx ends (returning ctx's error), or
// Shutdown or Close is called (returning ErrServerClosed), or the loop
// fails. It closes both ends when it returns. A proxy serves once.
func (p *Proxy) Serve(ctx context.Context) error {
	if err := p.life.Begin(); err != nil {
		return err
	}
	defer p.life.End()
	// The loop owns both sockets until it returns: hold their locks so no
	// other goroutine can touch them meanwhile.
	p.Frontend.mu.Lock()
	p.Backend.mu.Lock()
	loop := make(chan error, 1)
	go func() {
		err := zmq.ProxySteerable(p.Frontend.zs, p.Backend.zs, nil, p.peer)
		p.Frontend.mu.Unlock()
		p.Backend.mu.Unlock()
		loop <- err
	}()
	var err error
	select {
	case err = <-loop:
		p.log.Warn("proxy stopped", "proxy", p.name, "err", err)
		p.free()
		return zmqErr("proxy", err)
	case <-ctx.Done():
		err = ctx.Err()
	case <-p.life.ShuttingDown():
		err = ErrServerClosed
	}
	p.ctl.SendBytes([]byte("TERMINATE"), zmq.DONTWAIT)
	select {
	case <-loop:
	case <-time.After(5 * time.Second):
		// Leave the sockets to the stuck loop rather than crash it.
		return fmt.Errorf("proxy did not stop (a libzmq fault): %w", ErrTimeout)
	}
	p.free()
	return err
}

// free closes the control pair and both ends, once.
func (p *Proxy) free() {
	p.release.Do(func() {
		p.ctl.Close()
		p.peer.Close()
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
