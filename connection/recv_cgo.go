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
#include <errno.h>

typedef struct { int n; int more; int err; void *data; const char *user; } dv_recv_result;

// dv_recv receives one frame into m, which stays initialised between
// calls (zmq_msg_recv releases what m held before), and reports its size,
// data and more flag in one crossing of the cgo boundary.
static dv_recv_result dv_recv(void *s, zmq_msg_t *m, int flags, int want_user) {
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
	"time"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// The receive path is the one place this package calls libzmq itself:
// pebbe/zmq4's RecvBytes makes five cgo calls per frame (init, recv,
// data, copy, close) and finding out whether more frames follow takes a
// sixth. dv_recv does it in one, which is most of what the safety of the
// facades would otherwise cost. It needs the libzmq socket pointer that
// pebbe keeps in the unexported first field of zmq.Socket; rawRecvOK
// checks that layout once and, should a future pebbe change it, the
// package falls back to pebbe's own calls.
var rawRecvOK = func() bool {
	f, ok := reflect.TypeFor[zmq.Socket]().FieldByName("soc")
	return ok && f.Offset == 0 && f.Type.Kind() == reflect.UnsafePointer
}()

// frameReader receives frames with one cgo call each.
type frameReader struct {
	ptr unsafe.Pointer // the libzmq socket
	msg *C.zmq_msg_t   // reused for every frame; C memory
}

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

// recv receives one frame; the error is a zmq.Errno like pebbe's. With
// wantUser it also returns the frame's User-Id property: the Z85 public
// key of a CURVE peer, as the ZAP handler named it.
func (r *frameReader) recv(flags zmq.Flag, wantUser bool) (data []byte, more bool, user string, err error) {
	want := C.int(0)
	if wantUser {
		want = 1
	}
	res := C.dv_recv(r.ptr, r.msg, C.int(flags), want)
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
	if res.n >= LargeFrame {
		// Neither libzmq's copy (kept in msg until the next frame) nor,
		// once it is garbage, ours should stay resident.
		C.dv_msg_reset(r.msg)
		noteLargeFrame()
	}
	return data, res.more != 0, user, nil
}

// waitFD blocks the calling thread until fd is readable, the eventfd
// wake is signalled (see signalWake) or d passes.
func waitFD(fd, wake int, d time.Duration) { C.dv_wait_fd(C.int(fd), C.int(wake), C.longlong(d)) }

// free releases the message; call it after the socket is closed.
func (r *frameReader) free() {
	if r != nil {
		C.dv_msg_free(r.msg)
		r.msg = nil
	}
}
