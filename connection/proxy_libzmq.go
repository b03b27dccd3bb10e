//go:build libzmq && cgo

package connection

import (
	"context"
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// proxyZ is the control pair that stops libzmq's proxy loop: ours, and
// the loop's.
type proxyZ struct {
	ctl, peer *zmq.Socket
}

// openControl makes the control pair, which meets over inproc in the
// ends' context.
func (p *Proxy) openControl(cfg config) error {
	addr := fmt.Sprintf("inproc://dividere-%s-control", p.name)
	zc, err := zmqContext(cfg)
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
		return zmqErr("proxy control", err)
	}
	p.ctl, p.peer = ctl, peer
	return nil
}

func (p *Proxy) closeControl() {
	if p.ctl != nil {
		p.ctl.Close()
		p.peer.Close()
	}
}

// serveLibzmq runs libzmq's steerable proxy until ctx ends or the proxy
// is stopped.
func (p *Proxy) serveLibzmq(ctx context.Context) error {
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
