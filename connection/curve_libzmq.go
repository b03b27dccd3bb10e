//go:build libzmq && cgo

package connection

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/zmtp"
)

func (c *config) applyCurve(s *zmq.Socket) error {
	if err := c.curveAllowCheck(); err != nil {
		return err
	}
	switch {
	case c.curveServer != nil && c.curveAllow != nil:
		// The socket's own list, in a ZAP domain of its own: only a ZAP
		// handler enforces it, since libzmq lets every client in when
		// none answers.
		if zapRunning.Load() == 0 {
			return fmt.Errorf("%w: on libzmq, a socket's own CURVE allow list needs a running Authenticator (StartAuthenticator), which answers for it", ErrOption)
		}
		return s.ServerAuthCurve(c.curveAllow.zapDomain(), c.curveServer.Secret)
	case c.curveServer != nil:
		return s.ServerAuthCurve(zAPDomain, c.curveServer.Secret)
	case c.curveClient != nil:
		return s.ClientAuthCurve(c.curveServerKey, c.curveClient.Public, c.curveClient.Secret)
	}
	return nil
}

// authZ is an Authenticator's libzmq side: the ZAP handler, a REP
// socket on the inproc endpoint libzmq sends its requests to.
type authZ struct {
	rep     *Socket
	stopped atomic.Bool
}

// start starts the ZAP handler of dividere's libzmq context (of another,
// WithContext).
func (a *Authenticator) start(opts []Option) error {
	if processEngine != engineLibzmq {
		return a.startGo()
	}
	rep, err := newSocket(kind{typ: zmtp.REP}, "@inproc://zeromq.zap.01", endpoint.Bind, newConfig(append(slices.Clone(opts), WithoutMonitor(), WithLinger(0),
		WithName("zap-handler")), Option.apply))
	if err != nil {
		return err
	}
	a.rep = rep
	zapRunning.Add(1)
	go a.serve()
	return nil
}

// zapRunning counts the libzmq Authenticators running.
var zapRunning atomic.Int32

func (a *Authenticator) stop() error {
	if a.rep == nil {
		return a.stopGo()
	}
	err := a.rep.Close()
	<-a.done
	if a.stopped.CompareAndSwap(false, true) {
		zapRunning.Add(-1)
	}
	return err
}

// serve answers ZAP requests (ZeroMQ RFC 27):
// [version, request id, domain, address, identity, mechanism, credentials...].
func (a *Authenticator) serve() {
	defer close(a.done)
	ctx := context.Background()
	for {
		req, err := a.rep.recv(ctx)
		if err != nil {
			return
		}
		status, text, user := a.zap(req)
		id := []byte{}
		if len(req) > 1 {
			id = req[1]
		}
		if err := a.rep.send(ctx, [][]byte{[]byte("1.0"), id, []byte(status), []byte(text), []byte(user), {}}); err != nil {
			return
		}
	}
}

// zap decides a ZAP request: [version, request id, domain, address,
// identity, mechanism, credentials...].
func (a *Authenticator) zap(req Message) (status, text, user string) {
	if len(req) < 6 || string(req[0]) != "1.0" {
		a.refused.Add(1)
		return "500", "malformed ZAP request", ""
	}
	var key []byte
	if len(req) > 6 {
		key = req[6]
	}
	rules, log := &a.accessRules, a.log
	if l, ok := allowListOf(string(req[2])); ok {
		if l == nil { // no socket holds it any more
			a.refused.Add(1)
			return "400", "unknown ZAP domain", ""
		}
		rules = &l.accessRules
		if l.log != nil {
			log = l.log
		}
	}
	why, user := rules.decide(string(req[3]), string(req[5]), key, log, "")
	if why != "" {
		return "400", why, ""
	}
	return "200", "OK", user
}
