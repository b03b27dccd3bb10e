package connection

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// newWake makes the eventfd through which a waiter in the blocking poll
// is woken: nonblocking, so that signalling it never blocks, and not
// inherited by child processes.
func newWake() (int, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return -1, fmt.Errorf("eventfd: %w", errno)
	}
	return int(fd), nil
}

var one = binary.NativeEndian.AppendUint64(nil, 1)

// signalWake wakes whoever polls fd; a full counter means it is awake
// already.
func signalWake(fd int) {
	if fd >= 0 {
		syscall.Write(fd, one)
	}
}

func closeWake(fds [2]int) {
	for _, fd := range fds {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}
