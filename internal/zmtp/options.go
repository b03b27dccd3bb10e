package zmtp

import (
	"log/slog"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp/mech"
)

// Defaults for an Options field left zero.
const (
	// DefaultHWM is libzmq's high-water mark: messages queued per peer
	// and direction.
	DefaultHWM = 1000
	// DefaultSendQueueBytes bounds the bytes queued for one peer.
	DefaultSendQueueBytes = 64 << 20
	// DefaultMaxMessageSize is the largest message accepted from a peer.
	DefaultMaxMessageSize = 256 << 20
	// DefaultMaxFrames is the most frames a message from a peer may have.
	DefaultMaxFrames = 1024
	// DefaultMaxSubscriptions is the most topics one peer may subscribe to.
	DefaultMaxSubscriptions = 10_000
	// DefaultMaxSubscriptionBytes bounds the bytes of one peer's topics.
	DefaultMaxSubscriptionBytes = 1 << 20
	// DefaultReconnectInterval is the first wait before a connection is
	// tried again; it doubles up to the maximum.
	DefaultReconnectInterval = 100 * time.Millisecond
	// DefaultHandshakeTimeout bounds a handshake, as libzmq's 30 s.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxHandshakes bounds the accepted connections of a socket
	// whose handshake is under way.
	DefaultMaxHandshakes = 1024
	// DefaultBacklog is the listen backlog libzmq uses.
	DefaultBacklog = 100
)

// Options configure a Socket. The zero value is libzmq's defaults, with
// the bounds above; a negative number means "no limit" (or "off") where
// a field says so.
type Options struct {
	// SendHWM and RecvHWM are the high-water marks, in messages per peer;
	// < 0: no limit.
	SendHWM, RecvHWM int
	// SendQueueBytes bounds the bytes queued to one peer; < 0: no limit.
	SendQueueBytes int64
	// Linger is how long Close lets queued messages go out; < 0: as
	// long as it takes.
	Linger time.Duration
	// ReconnectInterval is the first wait before a lost or refused
	// connection is tried again; < 0: never reconnect. It doubles after
	// each failure up to ReconnectIntervalMax (0: it stays).
	ReconnectInterval, ReconnectIntervalMax time.Duration
	// HandshakeTimeout bounds the greeting and handshake; < 0: none.
	HandshakeTimeout time.Duration
	// HeartbeatInterval sends a PING that often (0: none). A connection
	// on which nothing arrives for HeartbeatTimeout (0: the interval) is
	// closed. HeartbeatTTL asks the peer to close after that long
	// without traffic from us (0: none).
	HeartbeatInterval, HeartbeatTimeout, HeartbeatTTL time.Duration
	// MaxMessageSize is the most bytes of one message from a peer; < 0:
	// no limit.
	MaxMessageSize int64
	// MaxFrames is the most frames of one message from a peer; < 0: no
	// limit.
	MaxFrames int
	// MaxSubscriptions and MaxSubscriptionBytes bound what one peer may
	// subscribe to a PUB or XPUB socket; < 0: no limit.
	MaxSubscriptions, MaxSubscriptionBytes int
	// Identity is the routing id this socket gives its peers (REQ,
	// DEALER, ROUTER). It must not start with a zero byte.
	Identity []byte
	// Immediate queues messages only to peers whose connection is up
	// (libzmq's ZMQ_IMMEDIATE).
	Immediate bool
	// RouterMandatory makes a ROUTER's send to an unknown or full peer
	// an error instead of a counted drop.
	RouterMandatory bool
	// XPubVerbose passes every subscription and every cancel up (a
	// subscriber leaving cancels its topics), not only a topic's first
	// subscription and its last cancel: libzmq's ZMQ_XPUB_VERBOSER.
	XPubVerbose bool
	// XPubNoDrop makes a PUB or XPUB wait for a full subscriber instead
	// of dropping (libzmq's ZMQ_XPUB_NODROP): while a peer the message
	// matches is at its high-water mark, TrySend returns ErrAgain and
	// queues it to nobody, and Send waits until every such peer has room.
	XPubNoDrop bool
	// RouterHandover lets a ROUTER's new connection whose peer gives an
	// identity already in use take it over, closing the old connection
	// (libzmq's ZMQ_ROUTER_HANDOVER). Without it the newcomer is refused
	// and the first connection keeps the identity.
	RouterHandover bool
	// Backlog is the listen backlog (advisory: Go sets its own).
	Backlog int
	// MaxHandshakes bounds the accepted connections whose handshake is
	// under way, over all the socket's listeners. A connection accepted
	// at the bound closes the oldest of them (counted in
	// Stats.HandshakesShed): a flood of connections that never finish
	// their handshake costs at most this many connections' memory, and
	// a real peer, whose handshake takes milliseconds, is rarely the
	// oldest. 0: DefaultMaxHandshakes.
	MaxHandshakes int
	// TCPKeepAlive is the keep-alive period of tcp connections; 0: the
	// operating system's, < 0: off.
	TCPKeepAlive time.Duration
	// Mechanism makes the security mechanism of each connection; nil:
	// NULL.
	Mechanism mech.Factory
	// Events receives every event of the socket, synchronously from the
	// engine's goroutines: it must not block.
	Events func(Event)
	// Logger gets the socket's warnings (rate-limited by the caller's
	// handler if it wants); nil: slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.SendHWM == 0 {
		o.SendHWM = DefaultHWM
	}
	if o.RecvHWM == 0 {
		o.RecvHWM = DefaultHWM
	}
	if o.SendQueueBytes == 0 {
		o.SendQueueBytes = DefaultSendQueueBytes
	}
	if o.ReconnectInterval == 0 {
		o.ReconnectInterval = DefaultReconnectInterval
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = DefaultMaxHandshakes
	}
	if o.HeartbeatInterval > 0 && o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = o.HeartbeatInterval
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxFrames == 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	if o.MaxSubscriptions == 0 {
		o.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if o.MaxSubscriptionBytes == 0 {
		o.MaxSubscriptionBytes = DefaultMaxSubscriptionBytes
	}
	if o.Backlog == 0 {
		o.Backlog = DefaultBacklog
	}
	if o.Mechanism == nil {
		o.Mechanism = mech.NewNull
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// limit turns a "< 0: no limit" bound into a comparable number.
func limit(n int) int {
	if n < 0 {
		return int(^uint(0) >> 1)
	}
	return n
}
