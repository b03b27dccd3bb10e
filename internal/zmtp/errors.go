package zmtp

import (
	"errors"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// Errors a caller can act on; each wraps into more context.
var (
	// ErrClosed is an operation on a closed socket.
	ErrClosed = errors.New("zmtp: socket closed")
	// ErrAgain is a non-blocking operation that could not be done now
	// (libzmq's EAGAIN).
	ErrAgain = errors.New("zmtp: resource temporarily unavailable")
	// ErrState is an operation out of the socket type's order, such as a
	// REQ sending twice (libzmq's EFSM).
	ErrState = errors.New("zmtp: operation not valid in the socket's state")
	// ErrNotSupported is an operation the socket type does not have, such
	// as a send on SUB (libzmq's ENOTSUP).
	ErrNotSupported = errors.New("zmtp: operation not supported by the socket type")
	// ErrHostUnreachable is a ROUTER's send, with RouterMandatory, to an
	// identity it has no peer for (libzmq's EHOSTUNREACH).
	ErrHostUnreachable = errors.New("zmtp: no peer with that identity")
	// ErrEmpty is a send of a message with no frames.
	ErrEmpty = errors.New("zmtp: message has no frames")
	// ErrHeartbeat is a connection closed because its peer went silent.
	ErrHeartbeat = errors.New("zmtp: heartbeat timed out")
	// ErrProtocol is wire.ErrProtocol: a peer broke the protocol.
	ErrProtocol = wire.ErrProtocol
	// ErrIncompatible is a peer of a socket type this one cannot talk to.
	ErrIncompatible = errors.New("zmtp: incompatible socket type")
)
