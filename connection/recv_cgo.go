//go:build libzmq && cgo

package connection

/*
#cgo pkg-config: libzmq
#define _GNU_SOURCE
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

typedef struct { int n; int more; int err; void *data; const char *user; } dv_recv_result;

// dv_recv receives one frame into m, which stays initialised between
// calls (zmq_msg_recv releases what m held before), and reports its size,
// data and more flag in one crossing of the cgo boundary.
static dv_recv_result dv_recv(uintptr_t sp, uintptr_t mp, int flags, int want_user) {
	void *s = (void *)sp;
	zmq_msg_t *m = (zmq_msg_t *)mp;
	dv_recv_result r = {0, 0, 0, NULL, NULL};
	int n;
	do {
		n = zmq_msg_recv(m, s, flags);
	} while (n < 0 && zmq_errno() == EINTR);
	if (n < 0) {
		r.err = zmq_errno();
		return r;
	}
	r.n = n;
	r.data = zmq_msg_data(m);
	r.more = zmq_msg_more(m);
	if (want_user) r.user = zmq_msg_gets(m, "User-Id");
	return r;
}

// dv_recv_wait is dv_recv waiting up to timeout_ms for the frame in
// libzmq's own blocking receive, as zmq_recv does: one poll of the
// socket's fd, where a receive that tries first and then polls makes
// two system calls more.
static dv_recv_result dv_recv_wait(uintptr_t sp, uintptr_t mp, int timeout_ms, int want_user) {
	zmq_setsockopt((void *)sp, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
	return dv_recv(sp, mp, 0, want_user);
}

typedef struct { int size; int more; } dv_frame;

// dv_recv_batch receives, without waiting, the frames of as many whole
// messages as are there, up to max_frames, copying them into buf (cap
// bytes) and recording each one's size and more flag in frames. It stops
// at a message boundary once buf is half full. A frame that does not fit
// is left in m (*big set): the caller takes it from there. It returns the
// number of frames recorded (the big one included); *err is the errno
// that ended the batch (EAGAIN: nothing more there).
static int dv_recv_batch(uintptr_t sp, uintptr_t mp, char *buf, int cap, dv_frame *frames, int max_frames, int *err, int *big) {
	void *s = (void *)sp;
	zmq_msg_t *m = (zmq_msg_t *)mp;
	int n = 0, used = 0, inmsg = 0;
	*err = 0;
	*big = 0;
	while (n < max_frames) {
		if (!inmsg && (used >= cap / 2 || n >= max_frames - 16)) break;
		int rc;
		do {
			rc = zmq_msg_recv(m, s, ZMQ_DONTWAIT);
		} while (rc < 0 && zmq_errno() == EINTR);
		if (rc < 0) {
			*err = zmq_errno();
			break;
		}
		frames[n].size = rc;
		frames[n].more = zmq_msg_more(m);
		inmsg = frames[n].more;
		n++;
		if (used + rc > cap) {
			*big = 1;
			break;
		}
		memcpy(buf + used, zmq_msg_data(m), rc);
		used += rc;
	}
	return n;
}

static zmq_msg_t *dv_msg_new(void) {
	zmq_msg_t *m = malloc(sizeof(zmq_msg_t));
	if (m != NULL) zmq_msg_init(m);
	return m;
}

// dv_msg_reset releases what m holds now rather than at the next frame.
static void dv_msg_reset(zmq_msg_t *m) {
	zmq_msg_close(m);
	zmq_msg_init(m);
}

static void dv_msg_free(zmq_msg_t *m) {
	zmq_msg_close(m);
	free(m);
}

// dv_wait_fd blocks until fd is readable, wake (an eventfd) is
// signalled or timeout_ns passes, as libzmq's own blocking calls wait on
// a socket's signalling fd. A wake-up through wake is consumed.
static int dv_wait_fd(int fd, int wake, long long timeout_ns) {
	struct pollfd p[2] = {{fd, POLLIN, 0}, {wake, POLLIN, 0}};
	struct timespec ts = {timeout_ns / 1000000000LL, timeout_ns % 1000000000LL};
	int rc;
	do {
		rc = ppoll(p, 2, &ts, NULL);
	} while (rc < 0 && errno == EINTR);
	if (rc > 0 && (p[1].revents & POLLIN)) {
		uint64_t n;
		(void)!read(wake, &n, sizeof n);
	}
	return rc;
}

// dv_wait_fds is dv_wait_fd for n sockets at once: fds[0..n) are their
// signalling fds, fds[n..2n) their wake eventfds, of which those
// signalled are consumed.
static int dv_wait_fds(int *fds, int n, long long timeout_ns) {
	struct pollfd p[16];
	if (n > 8) n = 8;
	for (int i = 0; i < 2 * n; i++) {
		p[i].fd = fds[i];
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	struct timespec ts = {timeout_ns / 1000000000LL, timeout_ns % 1000000000LL};
	int rc;
	do {
		rc = ppoll(p, 2 * n, &ts, NULL);
	} while (rc < 0 && errno == EINTR);
	for (int i = n; rc > 0 && i < 2 * n; i++) {
		if (p[i].revents & POLLIN) {
			uint64_t v;
			(void)!read(p[i].fd, &v, sizeof v);
		}
	}
	return rc;
}

// dv_send sends one frame and returns 0 or the errno. The data comes as
// an integer: a frame holds no Go pointers, and cgo's check of a pointer
// argument was about 6% of a messaging publisher's Go CPU. The socket
// comes as one too (see frameReader.sock).
static int dv_send(uintptr_t s, uintptr_t data, size_t len, int flags) {
	int rc;
	do {
		rc = zmq_send((void *)s, (void *)data, len, flags);
	} while (rc < 0 && zmq_errno() == EINTR);
	return rc < 0 ? zmq_errno() : 0;
}

static int dv_socket_type(void *s) {
	int t = -1;
	size_t len = sizeof(t);
	if (zmq_getsockopt(s, ZMQ_TYPE, &t, &len) != 0) return -1;
	return t;
}
*/
import "C"

import (
	"reflect"
	"runtime"
	"time"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// The receive and send paths are where this package calls libzmq
// itself. pebbe/zmq4's RecvBytes makes five cgo calls per frame (init,
// recv, data, copy, close) and finding out whether more frames follow
// takes a sixth; dv_recv does it in one, which is most of what the
// safety of the facades would otherwise cost. Its SendBytes has cgo check
// the frame's pointer at every call; dv_send takes the frame without
// that check. Both need the libzmq socket pointer that
// pebbe keeps in the unexported first field of zmq.Socket; rawRecvOK
// checks that layout once and, should a future pebbe change it, the
// package falls back to pebbe's own calls.
var rawRecvOK = func() bool {
	f, ok := reflect.TypeFor[zmq.Socket]().FieldByName("soc")
	return ok && f.Offset == 0 && f.Type.Kind() == reflect.UnsafePointer
}()

// frameReader receives frames with one cgo call each, or (batch) the
// messages that are there with one call for all of them, and sends them.
type frameReader struct {
	ptr unsafe.Pointer // the libzmq socket
	msg *C.zmq_msg_t   // reused for every frame; C memory
	// batch state, for sockets whose messages may be read ahead: C
	// memory, allocated on first use
	buf    *C.char
	frames *C.dv_frame
	// partial is a message whose frames have started to arrive in a
	// batch that ended inside it (the rest come with the next).
	partial Message
}

// Batch sizes: what one call may copy, and how many frames it may take.
const (
	batchBytes  = 64 << 10
	batchFrames = 256
)

// newFrameReader returns nil when the fast path is not available.
func newFrameReader(zs *zmq.Socket, typ zmq.Type) *frameReader {
	if !rawRecvOK {
		return nil
	}
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(zs))
	if ptr == nil || zmq.Type(C.dv_socket_type(ptr)) != typ {
		return nil
	}
	m := C.dv_msg_new()
	if m == nil {
		return nil
	}
	return &frameReader{ptr: ptr, msg: m}
}

// sock and msgp hand the socket and the message to C as integers: both
// are C memory, and cgo checks every unsafe.Pointer (and a pointer to
// zmq_msg_t, a union holding a pointer) an argument carries, which was
// 6% of a messaging publisher's CPU in process.
func (r *frameReader) sock() C.uintptr_t { return C.uintptr_t(uintptr(r.ptr)) }
func (r *frameReader) msgp() C.uintptr_t { return C.uintptr_t(uintptr(unsafe.Pointer(r.msg))) }

// send sends one frame; the error is a zmq.Errno like pebbe's. The
// frame's memory is Go's: it cannot move (the heap does not, and a
// goroutine's stack is not moved while it is in a cgo call), and it is
// kept alive until libzmq has copied it.
func (r *frameReader) send(data []byte, flags zmq.Flag) error {
	rc := C.dv_send(r.sock(), C.uintptr_t(uintptr(unsafe.Pointer(unsafe.SliceData(data)))), C.size_t(len(data)), C.int(flags))
	runtime.KeepAlive(data)
	if rc != 0 {
		return zmq.Errno(rc)
	}
	return nil
}

// recv receives one frame; the error is a zmq.Errno like pebbe's. With
// wantUser it also returns the frame's User-Id property: the Z85 public
// key of a CURVE peer, as the ZAP handler named it.
func (r *frameReader) recv(flags zmq.Flag, wantUser bool) (data []byte, more bool, user string, err error) {
	return r.recvWait(flags, 0, wantUser)
}

// recvWait is recv that, with wait > 0, waits up to wait (in whole
// milliseconds, at least one) in libzmq's blocking receive.
func (r *frameReader) recvWait(flags zmq.Flag, wait time.Duration, wantUser bool) (data []byte, more bool, user string, err error) {
	want := C.int(0)
	if wantUser {
		want = 1
	}
	var res C.dv_recv_result
	if wait > 0 {
		res = C.dv_recv_wait(r.sock(), r.msgp(), C.int(max((wait+time.Millisecond-1)/time.Millisecond, 1)), want)
	} else {
		res = C.dv_recv(r.sock(), r.msgp(), C.int(flags), want)
	}
	if res.err != 0 {
		return nil, false, "", zmq.Errno(res.err)
	}
	if res.user != nil {
		user = C.GoString(res.user)
	}
	if res.n == 0 {
		return []byte{}, res.more != 0, user, nil
	}
	data = C.GoBytes(res.data, res.n)
	if res.n >= largeFrame {
		// Neither libzmq's copy (kept in msg until the next frame) nor,
		// once it is garbage, ours should stay resident.
		C.dv_msg_reset(r.msg)
		noteLargeFrame()
	}
	return data, res.more != 0, user, nil
}

// batch receives the messages that are there, without waiting, and
// appends them to q. Every message gets memory of its own (so that
// keeping one keeps no other alive); their frame lists share one
// allocation. With view, the frames of the messages that arrived whole
// in this batch point into the reader's buffer instead, valid until the
// next batch: for a receiver that is done with each message before it
// asks for the next. With no whole message there it returns libzmq's
// error (EAGAIN when nothing is there).
func (r *frameReader) batch(q []Message, view bool) ([]Message, error) {
	if r.buf == nil {
		r.buf = (*C.char)(C.malloc(batchBytes))
		r.frames = (*C.dv_frame)(C.malloc(C.size_t(batchFrames) * C.size_t(unsafe.Sizeof(C.dv_frame{}))))
	}
	for {
		var cerr, big C.int
		n := int(C.dv_recv_batch(r.sock(), r.msgp(), r.buf, batchBytes, r.frames, batchFrames, &cerr, &big))
		q = r.split(q, n, big != 0, view)
		switch {
		case len(q) > 0:
			return q, nil
		case cerr != 0:
			return q, zmq.Errno(cerr)
		}
		// Only part of a long message so far: its other frames are there.
	}
}

// split turns the n frames a batch recorded into messages appended to q;
// with big, the last frame is still in r.msg. With view (see batch) a
// message's frames are copied only when it does not end in this batch.
func (r *frameReader) split(q []Message, n int, big, view bool) []Message {
	if n == 0 {
		return q
	}
	frames := unsafe.Slice(r.frames, batchFrames)[:n]
	src := unsafe.Slice((*byte)(unsafe.Pointer(r.buf)), batchBytes)
	list := make([][]byte, n)
	off := 0
	for i := 0; i < n; {
		// Frames i..j-1 are one message, or its start.
		j, size := i, 0
		for j < n {
			if !(big && j == n-1) {
				size += int(frames[j].size)
			}
			j++
			if frames[j-1].more == 0 {
				break
			}
		}
		var data []byte
		if view && frames[j-1].more == 0 {
			data = src[off : off+size : off+size]
		} else {
			data = make([]byte, size)
			copy(data, src[off:off+size])
		}
		off += size
		pos := 0
		for k := i; k < j; k++ {
			sz := int(frames[k].size)
			if big && k == n-1 {
				list[k] = C.GoBytes(C.zmq_msg_data(r.msg), C.int(sz))
				if sz >= largeFrame {
					C.dv_msg_reset(r.msg)
					noteLargeFrame()
				}
				continue
			}
			list[k] = data[pos : pos+sz : pos+sz]
			pos += sz
		}
		msg := Message(list[i:j:j])
		if len(r.partial) > 0 {
			msg = append(r.partial, msg...)
			r.partial = nil
		}
		if frames[j-1].more != 0 {
			r.partial = msg // the rest comes with the next batch
		} else {
			q = append(q, msg)
		}
		i = j
	}
	return q
}

// waitFD blocks the calling thread until fd is readable, the eventfd
// wake is signalled (see wakeFD.signal) or d passes.
func waitFD(fd, wake int, d time.Duration) { C.dv_wait_fd(C.int(fd), C.int(wake), C.longlong(d)) }

// waitFDs blocks the calling thread until one of zfds is readable, one
// of wakes is signalled or d passes (at most 8 of each).
func waitFDs(zfds, wakes []int, d time.Duration) {
	var fds [16]C.int
	n := min(len(zfds), 8)
	for i := range n {
		fds[i], fds[n+i] = C.int(zfds[i]), C.int(wakes[i])
	}
	C.dv_wait_fds(&fds[0], C.int(n), C.longlong(d))
}

// free releases the message; call it after the socket is closed.
func (r *frameReader) free() {
	if r != nil {
		C.dv_msg_free(r.msg)
		r.msg = nil
		if r.buf != nil {
			C.free(unsafe.Pointer(r.buf))
			C.free(unsafe.Pointer(r.frames))
			r.buf, r.frames = nil, nil
		}
	}
}
