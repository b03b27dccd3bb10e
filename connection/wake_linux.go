//go:build libzmq && cgo

package connection

import (
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"
)

// wakeFD is the eventfd through which a waiter in the blocking poll is
// woken. Signals may come from other goroutines at any time (a context's
// AfterFunc, say), so the fd is closed under a lock that every signal
// takes: a signal after close would otherwise write into whatever file
// reused the number, such as another socket's libzmq signaller, and
// libzmq asserts on a signal that carries no command.
type wakeFD struct {
	mu sync.RWMutex
	fd int // -1 once closed
}

// newWake makes the eventfd: nonblocking, so that signalling it never
// blocks, and not inherited by child processes.
func newWake() (*wakeFD, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil, fmt.Errorf("eventfd: %w", errno)
	}
	return &wakeFD{fd: int(fd)}, nil
}

var one = binary.NativeEndian.AppendUint64(nil, 1)

// signal wakes whoever polls the fd; a full counter means it is awake
// already.
func (w *wakeFD) signal() {
	if w == nil {
		return
	}
	w.mu.RLock()
	if w.fd >= 0 {
		syscall.Write(w.fd, one)
	}
	w.mu.RUnlock()
}

// close closes the fd; later signals do nothing.
func (w *wakeFD) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.fd >= 0 {
		syscall.Close(w.fd)
		w.fd = -1
	}
	w.mu.Unlock()
}
