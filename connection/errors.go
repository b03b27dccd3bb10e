package connection

import (
	"errors"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/lifecycle"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (or a context error), so callers decide what to do with errors.Is instead
// of matching strings.
var (
	// ErrClosed is returned by any call on a socket after Close, and by calls
	// that were blocked when Close happened.
	ErrClosed = errors.New("dividere: socket closed")
	// ErrTimeout is returned when a call's deadline passed first. It is
	// returned together with context.DeadlineExceeded when the deadline
	// came from a context.
	ErrTimeout = errors.New("dividere: timed out")
	// ErrState is returned when a call breaks the socket's send/receive
	// order, such as two sends in a row on a Request (libzmq's EFSM);
	// Request.Reset makes such a socket usable again. WaitPeers returns it
	// on a socket made WithoutMonitor, which cannot see its peers.
	ErrState = errors.New("dividere: operation not valid in the socket's current state")
	// ErrUnreachable is returned by a Router send to an identity that is
	// not (or no longer) connected.
	ErrUnreachable = errors.New("dividere: peer unreachable")
	// ErrEndpoint is returned for an endpoint that cannot be parsed, bound
	// or connected.
	ErrEndpoint = endpoint.ErrEndpoint
	// ErrEmpty is returned when asked to send a message with no frames.
	ErrEmpty = errors.New("dividere: empty message")
	// ErrServerClosed is what every dividere server's Serve returns after
	// Shutdown or Close (a Proxy, a Reactor, a Service, the name service,
	// a Broker, a Worker), and what Serve returns at once on a server
	// that was closed.
	ErrServerClosed = lifecycle.ErrServerClosed
)
