//go:build libzmq && cgo

// Package rawzmq sets up plain pebbe/zmq4 socket pairs on tcp loopback:
// the baseline that the Go benchmarks and `dividere bench` measure
// dividere against, set up one way for both.
package rawzmq

import (
	"context"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// PubSub returns a PUB and a SUB subscribed to everything, with
// high-water marks of hwm (the caller passes connection's default, 100,000, so
// that both sides of a comparison queue alike: this package imports no
// layer of dividere) and no linger, once the subscription is in
// place: raw PUB/SUB has no way to tell, so it probes until a probe
// arrives, then drains the probes. The caller closes both.
func PubSub(ctx context.Context, hwm int) (pub, sub *zmq.Socket, err error) {
	if pub, err = zmq.NewSocket(zmq.PUB); err != nil {
		return nil, nil, err
	}
	if sub, err = zmq.NewSocket(zmq.SUB); err != nil {
		pub.Close()
		return nil, nil, err
	}
	for _, s := range []*zmq.Socket{pub, sub} {
		s.SetLinger(0)
		s.SetSndhwm(hwm)
		s.SetRcvhwm(hwm)
	}
	pub.Bind("tcp://127.0.0.1:*")
	ep, _ := pub.GetLastEndpoint()
	sub.SetSubscribe("")
	sub.Connect(ep)
	for p := zmq.NewPoller(); ; {
		pub.SendBytes([]byte("probe"), 0)
		p.Add(sub, zmq.POLLIN)
		if got, _ := p.Poll(10 * time.Millisecond); len(got) > 0 {
			break
		}
		if ctx.Err() != nil {
			pub.Close()
			sub.Close()
			return nil, nil, ctx.Err()
		}
	}
	for {
		if _, err := sub.RecvBytes(zmq.DONTWAIT); err != nil {
			break
		}
	}
	return pub, sub, nil
}

// Echo is a REQ connected to a REP that echoes every request on its own
// goroutine.
type Echo struct {
	Req  *zmq.Socket
	done chan struct{}
}

// ReqRep starts an Echo with no linger.
func ReqRep() (*Echo, error) {
	rep, err := zmq.NewSocket(zmq.REP)
	if err != nil {
		return nil, err
	}
	req, err := zmq.NewSocket(zmq.REQ)
	if err != nil {
		rep.Close()
		return nil, err
	}
	rep.SetLinger(0)
	req.SetLinger(0)
	rep.Bind("tcp://127.0.0.1:*")
	ep, _ := rep.GetLastEndpoint()
	req.Connect(ep)
	e := &Echo{Req: req, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		defer rep.Close()
		for {
			m, err := rep.RecvBytes(0)
			if err != nil || len(m) == 0 { // an empty request stops it
				return
			}
			rep.SendBytes(m, 0)
		}
	}()
	return e, nil
}

// Close stops the echo and closes both sockets.
func (e *Echo) Close() {
	e.Req.SendBytes(nil, 0)
	<-e.done
	e.Req.Close()
}
