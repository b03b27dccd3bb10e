package connection

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp"
)

// EventKind says what happened to a socket's connection; the values are
// libzmq's ZMQ_EVENT_* bits.
type EventKind uint16

// Socket events, as libzmq reports them.
const (
	EventConnected          = EventKind(zmtp.EventConnected)
	EventConnectDelayed     = EventKind(zmtp.EventConnectDelayed)
	EventConnectRetried     = EventKind(zmtp.EventConnectRetried)
	EventListening          = EventKind(zmtp.EventListening)
	EventBindFailed         = EventKind(zmtp.EventBindFailed)
	EventAccepted           = EventKind(zmtp.EventAccepted)
	EventAcceptFailed       = EventKind(zmtp.EventAcceptFailed)
	EventClosed             = EventKind(zmtp.EventClosed)
	EventCloseFailed        = EventKind(zmtp.EventCloseFailed)
	EventDisconnected       = EventKind(zmtp.EventDisconnected)
	EventMonitorStopped     = EventKind(zmtp.EventMonitorStopped)
	EventHandshakeFailed    = EventKind(zmtp.EventHandshakeFailed)
	EventHandshakeSucceeded = EventKind(zmtp.EventHandshakeSucceeded)
	EventHandshakeProtocol  = EventKind(zmtp.EventHandshakeProtocol)
	EventHandshakeAuth      = EventKind(zmtp.EventHandshakeAuth)
)

var eventNames = map[EventKind]string{
	EventConnected:          "connected",
	EventConnectDelayed:     "connect-delayed",
	EventConnectRetried:     "connect-retried",
	EventListening:          "listening",
	EventBindFailed:         "bind-failed",
	EventAccepted:           "accepted",
	EventAcceptFailed:       "accept-failed",
	EventClosed:             "closed",
	EventCloseFailed:        "close-failed",
	EventDisconnected:       "disconnected",
	EventMonitorStopped:     "monitor-stopped",
	EventHandshakeFailed:    "handshake-failed",
	EventHandshakeSucceeded: "handshake-succeeded",
	EventHandshakeProtocol:  "handshake-failed-protocol",
	EventHandshakeAuth:      "handshake-failed-auth",
}

// String returns the event's name, e.g. "handshake-succeeded".
func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("event-%#x", uint16(k))
}

// Event is one thing that happened to a socket's connections.
type Event struct {
	Socket   string    // the socket's Name
	Kind     EventKind // what happened
	Endpoint string    // the endpoint it happened on
	Value    int       // libzmq's event value: a file descriptor, retry interval (ms) or error number
	Time     time.Time // when the monitor saw it
}

// monitor takes a socket's events, from libzmq's monitor stream or from
// the Go engine, in a goroutine of its own: it logs and forwards them,
// runs the facades' hooks and keeps the peer count WaitPeers uses.
type monitor struct {
	owner *Socket
	pair  *Socket // libzmq: the PAIR the monitor stream arrives on
	done  chan struct{}

	// The Go engine's events, queued by fromEngine (which must not block)
	// for the goroutine; guarded by qmu.
	qmu    sync.Mutex
	queue  []Event
	queued chan struct{}

	mu      sync.Mutex
	peers   int
	failed  int           // handshakes failed whose disconnect is still to come
	changed chan struct{} // closed and replaced whenever peers changes
	hooks   []func(Event)
	closed  map[string]bool // endpoints whose "closed" event came
	closedC chan struct{}   // closed and replaced on each "closed" event
}

func newMonitor(s *Socket) *monitor {
	return &monitor{owner: s, done: make(chan struct{}), changed: make(chan struct{}),
		closed: map[string]bool{}, closedC: make(chan struct{}), queued: make(chan struct{}, 1)}
}

// maxQueuedEvents bounds the Go engine's events waiting for the monitor
// goroutine; past it they are dropped and counted in EventsDropped.
const maxQueuedEvents = 4096

// fromEngine is the Go engine's Events hook: it queues the event for the
// monitor goroutine, never blocking the engine.
func (m *monitor) fromEngine(e zmtp.Event) {
	ev := Event{Socket: m.owner.name, Kind: EventKind(e.Kind), Endpoint: e.Endpoint, Time: time.Now(), Value: e.Value}
	m.qmu.Lock()
	if len(m.queue) >= maxQueuedEvents && e.Kind != zmtp.EventMonitorStopped {
		m.qmu.Unlock()
		m.owner.stats.eventsDropped.Add(1)
		return
	}
	m.queue = append(m.queue, ev)
	m.qmu.Unlock()
	select {
	case m.queued <- struct{}{}:
	default:
	}
}

// runGo handles the Go engine's events until the engine's last one,
// EventMonitorStopped, which it sends once every goroutine of the closed
// socket has ended.
func (m *monitor) runGo() {
	defer close(m.done)
	var batch []Event
	for range m.queued {
		m.qmu.Lock()
		batch, m.queue = m.queue, batch[:0]
		m.qmu.Unlock()
		for _, ev := range batch {
			if ev.Kind == EventMonitorStopped {
				return
			}
			m.handle(ev)
		}
	}
}

// stop waits, up to timeout, for the monitor goroutine to end.
func (m *monitor) stop(timeout time.Duration) {
	if m.pair != nil {
		m.stopLibzmq(timeout)
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-m.done:
	case <-t.C:
	}
}

func (m *monitor) handle(ev Event) {
	s := m.owner
	s.stats.events.Add(1)
	if l := s.log(); l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("socket event", "socket", ev.Socket, "event", ev.Kind.String(), "endpoint", ev.Endpoint, "value", ev.Value)
	}
	m.mu.Lock()
	before := m.peers
	switch ev.Kind {
	case EventHandshakeSucceeded:
		m.peers++
	case EventHandshakeFailed, EventHandshakeProtocol, EventHandshakeAuth:
		m.failed++
		if ev.Kind == EventHandshakeAuth {
			s.stats.authFailures.Add(1)
		}
	case EventClosed:
		m.closed[ev.Endpoint] = true
		close(m.closedC)
		m.closedC = make(chan struct{})
	case EventDisconnected:
		if m.failed > 0 {
			m.failed--
		} else if m.peers > 0 {
			m.peers--
		}
	}
	if m.peers != before {
		close(m.changed)
		m.changed = make(chan struct{})
	}
	hooks := m.hooks
	m.mu.Unlock()
	for _, h := range hooks {
		h(ev)
	}
	if ch := s.cfg.events; ch != nil {
		select {
		case ch <- ev:
		default:
			s.stats.eventsDropped.Add(1)
		}
	}
}

// addHook registers f to be called, on the monitor goroutine, for every
// event. Facades use it for work that events trigger.
func (m *monitor) addHook(f func(Event)) {
	m.mu.Lock()
	m.hooks = append(m.hooks, f)
	m.mu.Unlock()
}

func (m *monitor) peerCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers
}

// waitClosed waits until every endpoint in eps reported "closed", or for
// at most timeout.
func (m *monitor) waitClosed(eps []string, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		m.mu.Lock()
		all := true
		for _, ep := range eps {
			all = all && m.closed[ep]
		}
		ch := m.closedC
		m.mu.Unlock()
		if all {
			return
		}
		select {
		case <-ch:
		case <-m.done:
			return
		case <-t.C:
			return
		}
	}
}

// WaitPeers blocks until at least n peers have completed the ZMTP
// handshake with this socket (n = 1: it is connected; more: e.g. every
// Response a Request should spread its requests over), the context ends
// or the socket is closed. It replaces the original's "sleep a second for
// the late joiner". On a socket made WithoutMonitor, which sees no
// handshakes, it fails at once with ErrState.
//
// inproc connections produce no events; a socket whose endpoints are all
// inproc returns at once, since inproc delivers to a pending peer as soon
// as it binds. For PUB/SUB, a completed handshake does not yet mean the
// subscription arrived: use Publisher.WaitSubscribers for that.
func (s *Socket) WaitPeers(ctx context.Context, n int) error {
	if s.isClosed() {
		return fmt.Errorf("%s wait for peers: %w", s.name, ErrClosed)
	}
	if s.mon == nil {
		return fmt.Errorf("%s wait for peers: no monitor to see them (WithoutMonitor): %w", s.name, ErrState)
	}
	if s.allInproc() {
		return nil
	}
	for {
		s.mon.mu.Lock()
		got, ch := s.mon.peers, s.mon.changed
		s.mon.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s wait for peers: %w", s.name, ctxErr(ctx))
		case <-s.done:
			return fmt.Errorf("%s wait for peers: %w", s.name, ErrClosed)
		}
	}
}

func (s *Socket) allInproc() bool {
	for _, ep := range s.eps {
		if !strings.HasPrefix(ep.Addr, "inproc://") {
			return false
		}
	}
	return len(s.eps) > 0
}
