package connection

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Proxy forwards messages between a front end and a back end in libzmq's
// own proxy loop, frames unchanged. NewProxy makes the request/reply kind
// (ROUTER front end for Request and Dealer clients, DEALER back end for
// Response and Dealer workers); NewPubSubProxy makes the publish/subscribe
// kind (XSUB front end for publishers, XPUB back end for subscribers).
// Both ends bind by default.
//
// The loop is stopped through a control socket, never by closing sockets
// under it (which crashes libzmq's proxy), so Close is prompt and safe.
type Proxy struct {
	Frontend *Socket // where clients (or publishers) attach
	Backend  *Socket // where workers (or subscribers) attach

	ctl      *zmq.Socket // our end of the control pair; guarded by ctlMu
	ctlMu    sync.Mutex
	done     chan struct{}
	err      error // why the loop ended, if not by Close
	stopOnce sync.Once
}

var proxySeq atomic.Uint64

// NewProxy starts a ROUTER/DEALER proxy.
func NewProxy(frontend, backend string, opts ...Option) (*Proxy, error) {
	return newProxy(zmq.ROUTER, frontend, zmq.DEALER, backend, opts)
}

// NewPubSubProxy starts an XSUB/XPUB proxy: publishers connect to the
// front end, subscribers to the back end, and subscriptions travel
// upstream.
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
	setupContext()
	ctl, err := zmq.NewSocket(zmq.PAIR)
	if err == nil {
		err = ctl.Bind(addr)
	}
	var peer *zmq.Socket
	if err == nil {
		peer, err = zmq.NewSocket(zmq.PAIR)
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
	p := &Proxy{Frontend: front, Backend: back, ctl: ctl, done: make(chan struct{})}
	// The loop owns both sockets until it returns: hold their locks so no
	// other goroutine can touch them meanwhile.
	front.mu.Lock()
	back.mu.Lock()
	go func() {
		defer close(p.done)
		err := zmq.ProxySteerable(front.zs, back.zs, nil, peer)
		front.mu.Unlock()
		back.mu.Unlock()
		peer.Close()
		if err != nil {
			p.err = zmqErr("proxy", err)
			cfg.logger.Warn("proxy stopped", "proxy", name, "err", err)
		}
	}()
	return p, nil
}

// Done is closed when the proxy loop has ended.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Err tells why the loop ended on its own, or nil.
func (p *Proxy) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close stops the loop and closes both sockets. It returns within a few
// seconds even if the loop does not answer (which would be a libzmq bug).
func (p *Proxy) Close() error {
	p.stopOnce.Do(func() {
		p.ctlMu.Lock()
		p.ctl.SendBytes([]byte("TERMINATE"), zmq.DONTWAIT)
		p.ctlMu.Unlock()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.err = fmt.Errorf("proxy did not stop: %w", ErrTimeout)
			return // leave the sockets to the stuck loop rather than crash it
		}
		p.ctl.Close()
		p.Frontend.Close()
		p.Backend.Close()
	})
	return p.err
}
