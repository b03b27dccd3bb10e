//go:build unix

package zmtp

import (
	"net"
	"syscall"
)

// rawWriter is a connection's file descriptor, for a write that does not
// wait (the descriptor is non-blocking, as Go's netpoller keeps it). One
// writer at a time (the queue's writing flag): the callback and its
// arguments live here so that a write allocates nothing.
type rawWriter struct {
	rc syscall.RawConn
	fn func(fd uintptr) bool
	b  []byte
	n  int
}

func newRawWriter(nc net.Conn) *rawWriter {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawWriter{rc: rc}
	r.fn = r.write
	return r
}

// tryWrite writes what the connection takes of b now, without waiting:
// 0 when its buffer is full or on any error, which the writer loop then
// meets (and handles) on its own write.
func (r *rawWriter) tryWrite(b []byte) int {
	r.b, r.n = b, 0
	r.rc.Write(r.fn)
	r.b = nil
	return r.n
}

func (r *rawWriter) write(fd uintptr) bool {
	for {
		k, err := syscall.Write(int(fd), r.b)
		if err == syscall.EINTR {
			continue
		}
		if k > 0 {
			r.n = k
		}
		return true
	}
}
