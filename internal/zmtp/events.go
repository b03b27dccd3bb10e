package zmtp

import "fmt"

// EventKind says what happened. The values are libzmq's ZMQ_EVENT_*
// bits, so that a monitor written for libzmq reads them unchanged.
type EventKind uint16

// Events, as libzmq's monitor reports them.
const (
	EventConnected          EventKind = 0x0001
	EventConnectDelayed     EventKind = 0x0002
	EventConnectRetried     EventKind = 0x0004
	EventListening          EventKind = 0x0008
	EventBindFailed         EventKind = 0x0010
	EventAccepted           EventKind = 0x0020
	EventAcceptFailed       EventKind = 0x0040
	EventClosed             EventKind = 0x0080
	EventCloseFailed        EventKind = 0x0100
	EventDisconnected       EventKind = 0x0200
	EventMonitorStopped     EventKind = 0x0400
	EventHandshakeFailed    EventKind = 0x0800 // no detail
	EventHandshakeSucceeded EventKind = 0x1000
	EventHandshakeProtocol  EventKind = 0x2000
	EventHandshakeAuth      EventKind = 0x4000
)

// String returns the event's name.
func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventConnectDelayed:
		return "connect-delayed"
	case EventConnectRetried:
		return "connect-retried"
	case EventListening:
		return "listening"
	case EventBindFailed:
		return "bind-failed"
	case EventAccepted:
		return "accepted"
	case EventAcceptFailed:
		return "accept-failed"
	case EventClosed:
		return "closed"
	case EventCloseFailed:
		return "close-failed"
	case EventDisconnected:
		return "disconnected"
	case EventMonitorStopped:
		return "monitor-stopped"
	case EventHandshakeFailed:
		return "handshake-failed"
	case EventHandshakeSucceeded:
		return "handshake-succeeded"
	case EventHandshakeProtocol:
		return "handshake-failed-protocol"
	case EventHandshakeAuth:
		return "handshake-failed-auth"
	}
	return fmt.Sprintf("event-%#x", uint16(k))
}

// Event is one thing that happened to a socket's endpoints or
// connections.
type Event struct {
	Kind     EventKind
	Endpoint string // the endpoint as bound or connected
	Remote   string // the peer's address, where there is one
	// Value is libzmq's event value where it has a meaning here: the
	// reconnect interval in milliseconds for EventConnectRetried.
	Value int
	Err   error // why, for failures and disconnections
}

func (s *Socket) emit(e Event) {
	if s.opt.Events != nil {
		s.opt.Events(e)
	}
}
