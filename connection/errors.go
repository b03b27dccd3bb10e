package connection

import (
	"errors"
	"fmt"
	"syscall"

	zmq "github.com/pebbe/zmq4"

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
	// order, such as two sends in a row on a Request (libzmq's EFSM).
	// Request.Reset makes such a socket usable again.
	ErrState = errors.New("dividere: operation not valid in the socket's current state")
	// ErrUnreachable is returned by a Router send to an identity that is
	// not (or no longer) connected.
	ErrUnreachable = errors.New("dividere: peer unreachable")
	// ErrEndpoint is returned for an endpoint that cannot be parsed, bound
	// or connected.
	ErrEndpoint = errors.New("dividere: bad endpoint")
	// ErrEmpty is returned when asked to send a message with no frames.
	ErrEmpty = errors.New("dividere: empty message")
	// ErrServerClosed is what every dividere server's Serve returns after
	// Shutdown or Close (a Proxy, a Reactor, a Service, the name service,
	// a Broker, a Worker), and what Serve returns at once on a server
	// that was closed.
	ErrServerClosed = lifecycle.ErrServerClosed
)

// zmqErr maps a libzmq error to the package's sentinel errors, keeping the
// original error in the chain for those who want the errno.
func zmqErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch zmq.AsErrno(err) {
	case zmq.ETERM, zmq.Errno(syscall.ENOTSOCK):
		return fmt.Errorf("%s: %w", op, ErrClosed)
	case zmq.EFSM:
		return fmt.Errorf("%s: %w: %w", op, ErrState, err)
	case zmq.EHOSTUNREACH:
		return fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err)
	case zmq.Errno(syscall.EAGAIN):
		return fmt.Errorf("%s: %w: %w", op, ErrTimeout, err)
	}
	if errors.Is(err, zmq.ErrorSocketClosed) {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// errAgain is what a non-blocking attempt returns to be retried when the
// socket signals.
var errAgain error = zmq.Errno(syscall.EAGAIN)

func isAgain(err error) bool {
	return err != nil && zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN)
}
