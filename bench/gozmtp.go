package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp"
)

// The "raw Go engine" rows: dividere's own ZeroMQ engine in pure Go
// (internal/zmtp), used directly, in the shapes of the raw libzmq rows
// (PUB/SUB, REQ/REP, ROUTER/DEALER), so that a ratio between the two is
// one engine against the other with nothing of dividere's layers on top.

// goOptions are the options of every Go engine socket here: no
// high-water marks and no bound on queued bytes, as rawBound's pebbe
// sockets have no high-water marks. The Go engine's PUB drops at its
// mark as libzmq's does, so without this the publisher would drop.
func goOptions() zmtp.Options {
	return zmtp.Options{SendHWM: -1, RecvHWM: -1, SendQueueBytes: -1}
}

// goBound is a Go engine socket of type typ bound to a free local port,
// and the endpoint it is bound to.
func goBound(typ zmtp.Type) (*zmtp.Socket, string, error) {
	s, err := zmtp.New(typ, goOptions())
	if err != nil {
		return nil, "", err
	}
	ep, err := s.Bind("tcp://127.0.0.1:0")
	return s, ep, err
}

// goConnected is a Go engine socket of type typ connected to endpoint.
func goConnected(typ zmtp.Type, endpoint string) (*zmtp.Socket, error) {
	s, err := zmtp.New(typ, goOptions())
	if err != nil {
		return nil, err
	}
	return s, s.Connect(endpoint)
}

func newGoPublisher() (publisher, error) {
	pub, ep, err := goBound(zmtp.PUB)
	if err != nil {
		return publisher{}, err
	}
	ctx := context.Background()
	msg := [][]byte{nil} // reused: a PUB copies what it queues
	return publisher{endpoint: ep, send: func(b []byte) error {
		msg[0] = b
		return pub.Send(ctx, msg)
	}}, nil
}

// goRecvLoop subscribes to everything at endpoint and counts what comes
// until ctx ends or c says to stop.
func goRecvLoop(ctx context.Context, c *counter, endpoint string) (func() error, error) {
	sub, err := goConnected(zmtp.SUB, endpoint)
	if err != nil {
		return nil, err
	}
	if err := sub.Subscribe(nil); err != nil {
		return nil, err
	}
	return func() error {
		for {
			m, err := sub.Recv(ctx)
			if err != nil {
				return nil // ctx ended: the count is over
			}
			if c.see(m[0][0]) {
				return nil
			}
		}
	}, nil
}

func newGoCaller(endpoint string) (caller, error) {
	req, err := goConnected(zmtp.REQ, endpoint)
	if err != nil {
		return nil, err
	}
	msg := [][]byte{nil}
	return func(ctx context.Context, b []byte) error {
		msg[0] = b
		if err := req.Send(ctx, msg); err != nil {
			return err
		}
		_, err := req.Recv(ctx)
		return err
	}, nil
}

// runGoProxy is the Go engine's counterpart of runProxy (zmq_proxy): a
// ROUTER front end and a DEALER back end dealing requests to REP
// workers in turn, forwarded by a goroutine each way, with no decision
// per request. It says WORKERS once the back end has as many peers as
// there are workers.
func runGoProxy(workers int) error {
	front, fe, err := goBound(zmtp.ROUTER)
	if err != nil {
		return err
	}
	back, be, err := goBound(zmtp.DEALER)
	if err != nil {
		return err
	}
	say("READY %s %s", fe, be)
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for back.Stats().Peers < workers {
		select {
		case <-wctx.Done():
			return errors.New("the workers did not connect within 30 s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	say("WORKERS")
	forward := func(from, to *zmtp.Socket) error {
		for {
			m, err := from.Recv(ctx)
			if err != nil {
				return err
			}
			if err := to.Send(ctx, m); err != nil {
				return err
			}
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- forward(front, back) }()
	go func() { errc <- forward(back, front) }()
	go func() { untilParentGoes(); os.Exit(0) }()
	return <-errc
}

// runGoWorkers starts n echoing REP workers on a Go engine proxy's back
// end, each in a goroutine of its own, until the parent goes.
func runGoWorkers(endpoint string, n int) error {
	for range n {
		w, err := goConnected(zmtp.REP, endpoint)
		if err != nil {
			return err
		}
		go func() {
			ctx := context.Background()
			for {
				m, err := w.Recv(ctx)
				if err != nil {
					return
				}
				if err := w.Send(ctx, m); err != nil {
					return
				}
			}
		}()
	}
	say("READY")
	untilParentGoes()
	return nil
}
