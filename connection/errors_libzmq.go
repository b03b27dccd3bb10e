//go:build libzmq && cgo

package connection

import (
	"errors"
	"fmt"
	"syscall"

	zmq "github.com/pebbe/zmq4"
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

// isLibzmqAgain reports libzmq's EAGAIN.
func isLibzmqAgain(err error) bool { return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) }
