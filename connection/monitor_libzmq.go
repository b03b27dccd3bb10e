package connection

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// EventKind says what happened to a socket's connection; the values are
// libzmq's ZMQ_EVENT_* bits.
type EventKind uint16

// Socket events, as libzmq reports them.
const (
	EventConnected          = EventKind(zmq.EVENT_CONNECTED)
	EventConnectDelayed     = EventKind(zmq.EVENT_CONNECT_DELAYED)
	EventConnectRetried     = EventKind(zmq.EVENT_CONNECT_RETRIED)
	EventListening          = EventKind(zmq.EVENT_LISTENING)
	EventBindFailed         = EventKind(zmq.EVENT_BIND_FAILED)
	EventAccepted           = EventKind(zmq.EVENT_ACCEPTED)
	EventAcceptFailed       = EventKind(zmq.EVENT_ACCEPT_FAILED)
	EventClosed             = EventKind(zmq.EVENT_CLOSED)
	EventCloseFailed        = EventKind(zmq.EVENT_CLOSE_FAILED)
	EventDisconnected       = EventKind(zmq.EVENT_DISCONNECTED)
	EventMonitorStopped     = EventKind(zmq.EVENT_MONITOR_STOPPED)
	EventHandshakeFailed    = EventKind(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
	EventHandshakeSucceeded = EventKind(zmq.EVENT_HANDSHAKE_SUCCEEDED)
	EventHandshakeProtocol  = EventKind(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
	EventHandshakeAuth      = EventKind(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
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

// ErrNoMonitor is returned by WaitConnected on a socket made WithoutMonitor.
var ErrNoMonitor = fmt.Errorf("dividere: socket has no monitor (WithoutMonitor)")

var monitorSeq atomic.Uint64

// monitor reads a socket's libzmq monitor stream in its own goroutine,
// logs and forwards events, and keeps the peer count WaitConnected uses.
type monitor struct {
	owner *Socket
	pair  *Socket
	done  chan struct{}

	mu      sync.Mutex
	peers   int
	failed  int           // handshakes failed whose disconnect is still to come
	changed chan struct{} // closed and replaced whenever peers changes
	hooks   []func(Event)
	closed  map[string]bool // endpoints whose "closed" event came
	closedC chan struct{}   // closed and replaced on each "closed" event
}

func startMonitor(s *Socket) (*monitor, error) {
	addr := fmt.Sprintf("inproc://dividere-monitor-%d", monitorSeq.Add(1))
	if err := s.zs.Monitor(addr, zmq.EVENT_ALL); err != nil {
		return nil, zmqErr("monitor", err)
	}
	cfg := s.cfg
	cfg.monitor = false
	cfg.heartbeat = 0
	cfg.events = nil
	cfg.curveServer, cfg.curveClient = nil, nil
	// Nothing of the owner's kind: no identity, topics, peer keys.
	cfg.marked, cfg.identity, cfg.topics, cfg.topicsSet, cfg.userID, cfg.slowWait = nil, "", nil, false, false, 0
	cfg.name = s.name + "-monitor"
	pair, err := newSocket(zmq.PAIR, ">"+addr, Connect, cfg, nil)
	if err != nil {
		s.zs.Monitor("", 0)
		return nil, err
	}
	// Its goroutine waits nearly always: it neither counts among the
	// process's waiters nor holds a thread in the blocking poll.
	pair.background = true
	m := &monitor{owner: s, pair: pair, done: make(chan struct{}), changed: make(chan struct{}),
		closed: map[string]bool{}, closedC: make(chan struct{})}
	go m.run()
	return m, nil
}

func (m *monitor) run() {
	defer close(m.done)
	defer m.pair.Close()
	for {
		msg, err := m.pair.recv(context.Background())
		if err != nil {
			return
		}
		if len(msg) < 2 || len(msg[0]) < 6 {
			continue
		}
		ev := Event{
			Socket:   m.owner.name,
			Kind:     EventKind(binary.NativeEndian.Uint16(msg[0][:2])),
			Value:    int(int32(binary.NativeEndian.Uint32(msg[0][2:6]))),
			Endpoint: string(msg[1]),
			Time:     time.Now(),
		}
		if ev.Kind == EventMonitorStopped {
			return
		}
		m.handle(ev)
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

// stop waits for the monitor goroutine, which ends on MONITOR_STOPPED;
// past the timeout it closes the monitor socket under it.
func (m *monitor) stop(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-m.done:
	case <-t.C:
		m.pair.Close()
		<-m.done
	}
}

// WaitConnected blocks until at least one peer has completed the ZMTP
// handshake with this socket, the context ends or the socket is closed.
// It replaces the original's "sleep a second for the late joiner".
//
// inproc connections produce no events; a socket whose endpoints are all
// inproc returns at once, since inproc delivers to a pending peer as soon
// as it binds. For PUB/SUB, a completed handshake does not yet mean the
// subscription arrived: use Publisher.WaitSubscribers for that.
func (s *Socket) WaitConnected(ctx context.Context) error { return s.WaitPeers(ctx, 1) }

// WaitPeers is WaitConnected for at least n peers, e.g. every Response a
// Request should spread its requests over. For inproc-only sockets it
// returns at once.
func (s *Socket) WaitPeers(ctx context.Context, n int) error {
	if s.isClosed() {
		return fmt.Errorf("%s wait connected: %w", s.name, ErrClosed)
	}
	if s.mon == nil {
		return ErrNoMonitor
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
			return fmt.Errorf("%s wait connected: %w", s.name, ctxErr(ctx))
		case <-s.done:
			return fmt.Errorf("%s wait connected: %w", s.name, ErrClosed)
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
