//go:build libzmq && cgo

package connection

import (
	"strings"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/internal/endpoint"
)

// libzmq reconnects a connecting socket whose connection broke, but not
// one whose connection it tore down for a protocol error: a frame over
// the maximum size, a malformed frame. It then reports the disconnect and
// never retries, and the socket (a Subscriber, say) sits silent for good.
// The reattacher notices that no retry followed a disconnect and attaches
// the endpoint again (which also resubscribes a Subscriber), with a
// backoff so that a peer that keeps sending bad frames is not hammered.
const (
	// reattachAfter is how long after a disconnect with no retry the
	// endpoint is attached again. libzmq reports its own retry within
	// microseconds of the disconnect; this leaves room for a loaded
	// machine.
	reattachAfter = time.Second
	// reattachMax caps the backoff between re-attaches of one endpoint.
	reattachMax = 30 * time.Second
)

type reattacher struct {
	s  *Socket
	mu sync.Mutex
	// per connect endpoint (its address)
	timers map[string]*time.Timer
	delay  map[string]time.Duration
	last   map[string]time.Time
}

// startReattacher watches the socket's connect endpoints, if it has any
// and a monitor to watch them with.
func startReattacher(s *Socket) *reattacher {
	if s.mon == nil {
		return nil
	}
	hasConnect := false
	for _, ep := range s.eps {
		hasConnect = hasConnect || (ep.Role == endpoint.Connect && !strings.HasPrefix(ep.Addr, "inproc://"))
	}
	if !hasConnect {
		return nil
	}
	r := &reattacher{s: s, timers: map[string]*time.Timer{}, delay: map[string]time.Duration{}, last: map[string]time.Time{}}
	s.mon.addHook(r.event)
	return r
}

// endpointOf maps an event's endpoint to the connect endpoint it is
// about: libzmq reports the address as resolved, which for a host name
// is not what was given, so a lone candidate on the same port is taken.
func (r *reattacher) endpointOf(addr string) string {
	var byPort []string
	_, port, _ := endpoint.SplitHostPort(trimScheme(addr))
	for _, ep := range r.s.eps {
		if ep.Role != endpoint.Connect {
			continue
		}
		if ep.Addr == addr {
			return ep.Addr
		}
		if _, p, err := endpoint.SplitHostPort(trimScheme(ep.Addr)); err == nil && p == port && port != "" {
			byPort = append(byPort, ep.Addr)
		}
	}
	if len(byPort) == 1 {
		return byPort[0]
	}
	return ""
}

func (r *reattacher) event(ev Event) {
	switch ev.Kind {
	case EventDisconnected, EventConnectRetried, EventConnectDelayed, EventConnected, EventHandshakeSucceeded:
	default:
		return
	}
	ep := r.endpointOf(ev.Endpoint)
	if ep == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.timers[ep]; t != nil {
		t.Stop() // libzmq is on it
		delete(r.timers, ep)
	}
	if ev.Kind != EventDisconnected || r.s.isClosed() {
		return
	}
	r.timers[ep] = time.AfterFunc(reattachAfter, func() { r.reattach(ep) })
}

// reattach attaches ep again, unless backing off, in which case it
// tries again after the backoff.
func (r *reattacher) reattach(ep string) {
	r.mu.Lock()
	delete(r.timers, ep)
	now := time.Now()
	d := r.delay[ep]
	if since := now.Sub(r.last[ep]); d > 0 && since < d {
		// Re-attached not long ago and dropped again: wait out the backoff.
		r.timers[ep] = time.AfterFunc(d-since, func() { r.reattach(ep) })
		r.mu.Unlock()
		return
	}
	switch {
	case d == 0 || now.Sub(r.last[ep]) > 2*d+reattachMax:
		d = reattachAfter // a long quiet spell starts the backoff again
	default:
		d = min(2*d, reattachMax)
	}
	r.delay[ep], r.last[ep] = d, now
	r.mu.Unlock()

	s := r.s
	err := s.with(func(zs *zmq.Socket) error {
		zs.Disconnect(ep) // it has no live session, but make sure
		return zs.Connect(ep)
	})
	if err != nil {
		if !s.isClosed() {
			s.warn.Warn(s.log(), "cannot re-attach endpoint", "socket", s.name, "endpoint", ep, "err", err)
		}
		return
	}
	s.stats.reattaches.Add(1)
	s.warn.Warn(s.log(), "connection torn down for a protocol error (an oversize or malformed frame) and not retried by libzmq; attached again",
		"socket", s.name, "endpoint", ep, "next backoff", d)
}

// stop cancels pending re-attaches; the socket is closing.
func (r *reattacher) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ep, t := range r.timers {
		t.Stop()
		delete(r.timers, ep)
	}
}
