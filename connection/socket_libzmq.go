//go:build libzmq && cgo

package connection

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/internal/endpoint"
)

// haveLibzmq says this build has the libzmq engine.
const haveLibzmq = true

// zside is a Socket's libzmq state.
//
// libzmq sockets must not be used by two threads at once, and goroutines
// move between threads, so every libzmq call is made under the Socket's
// mutex. No goroutine ever blocks inside libzmq while holding it:
// operations are tried without blocking, and a caller that has to wait
// parks on the socket's ZMQ_FD in Go's network poller. That keeps an idle
// socket at zero CPU, lets one goroutine send while another waits to
// receive, and lets Close wake every waiter at once.
type zside struct {
	re *reattacher // nil unless the socket connects somewhere
	zs *zmq.Socket
	// zfd is libzmq's ZMQ_FD. A waiter first polls it in a blocking
	// system call (see hotWait), interruptible through its direction's
	// eventfd in wakefd; one that waits longer parks in Go's network
	// poller on a duplicate of zfd made for that wait (parked), so that
	// an idle socket holds no thread and the poller is not woken by the
	// edges of sockets nobody waits on.
	zfd    int
	wakefd [2]*wakeFD // for the receive-side and the send-side waiter
	parkMu sync.Mutex
	// parked holds, per direction, the duplicate a waiter parks on, kept
	// while the socket's waiters park (many goroutines wait at once) and
	// dropped when they wait in the blocking poll again; guarded by
	// parkMu.
	parked     [2]*os.File
	parkedConn [2]syscall.RawConn
	rsem, wsem chan struct{} // one waiter per direction waits on the fd
	// Whether a goroutine holds rsem/wsem (is parked or about to park).
	rwaiting, wwaiting atomic.Bool
	// notifyLocked's rate limit; guarded by mu.
	born          time.Time
	lastNotify    time.Duration // since born
	notifyPending bool
	notifyTimer   *time.Timer

	fr *frameReader // nil: receive through pebbe
	// With batch, messages are read ahead in one call per batch (sockets
	// that may receive several messages in a row); queue[head:] are
	// those not yet handed out. Guarded by mu.
	batch bool
	queue []Message
	head  int
	// blockHot: a receive's hot wait is libzmq's own blocking receive
	// (REQ and REP, whose receives and sends alternate, so that holding
	// mu while it waits keeps nobody waiting), for blockFor at a time;
	// guarded by mu.
	blockHot bool
	blockFor time.Duration
	blocked  bool // the last try did wait in libzmq (it was a receive)
	// views says the messages in queue point into the frame reader's
	// buffer (they were read ahead for recvView): handed out any other
	// way, they are copied first.
	views bool
	// lastUser is the User-Id of the message recvFrames took last (with
	// WithUserID); guarded by mu, handed out by recvUser.
	lastUser string
	// background marks a socket of the package's own (a monitor's) whose
	// waiter always parks and is not counted in waiters.
	background bool
}

// openLibzmq makes s's socket in libzmq.
func (s *Socket) openLibzmq(k kind) error {
	cfg, typ := s.cfg, zmq.Type(k.typ)
	zc, err := zmqContext(cfg)
	if err != nil {
		return zmqErr("libzmq context", err)
	}
	zs, err := zc.NewSocket(typ)
	if err != nil {
		return zmqErr("new socket", err)
	}
	s.zs, s.born = zs, time.Now()
	s.rsem, s.wsem = make(chan struct{}, 1), make(chan struct{}, 1)
	fail := func(err error) error {
		s.wakefd[0].close()
		s.wakefd[1].close()
		zs.SetLinger(0)
		zs.Close()
		s.fr.free()
		return err
	}
	if err := cfg.apply(zs); err != nil {
		return fail(err)
	}
	if err := k.applyLibzmq(zs); err != nil {
		return fail(zmqErr("set option", err))
	}
	s.fr = newFrameReader(zs, typ)
	// Sockets that may receive several messages in a row read them ahead
	// in batches: one call into libzmq for all that are there, instead
	// of one per frame. REQ and REP must alternate, and a message's
	// User-Id is read from the frame itself.
	switch typ {
	case zmq.SUB, zmq.DEALER, zmq.ROUTER, zmq.PULL:
		s.batch = s.fr != nil && !cfg.userID
	case zmq.REQ, zmq.REP:
		s.blockHot = s.fr != nil
	}
	fd, err := zs.GetFd()
	if err != nil {
		return fail(zmqErr("get fd", err))
	}
	s.zfd = fd
	for i := range s.wakefd {
		if s.wakefd[i], err = newWake(); err != nil {
			return fail(err)
		}
	}
	if cfg.monitor {
		if s.mon, err = startMonitor(s); err != nil {
			return fail(err)
		}
	}
	return nil
}

// pollable registers a duplicate of libzmq's signalling fd with Go's
// network poller. libzmq creates it non-blocking, which the poller needs.
func pollable(fd int, name string) (*os.File, syscall.RawConn, error) {
	d, err := syscall.Dup(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("dup ZMQ_FD: %w", err)
	}
	syscall.CloseOnExec(d)
	f := os.NewFile(uintptr(d), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ZMQ_FD not pollable: %w", err)
	}
	return f, rc, nil
}

// applyLibzmq sets k's socket-type options.
func (k kind) applyLibzmq(zs *zmq.Socket) error {
	var errs []error
	if k.xpubVerbose {
		errs = append(errs, zs.SetXpubVerboser(1))
	}
	if k.xpubNoDrop {
		errs = append(errs, zs.SetXpubNodrop(true))
	}
	if k.routerMandatory {
		errs = append(errs, zs.SetRouterMandatory(1))
	}
	if k.routerHandover {
		errs = append(errs, zs.SetRouterHandover(true))
	}
	for _, t := range k.topics {
		errs = append(errs, zs.SetSubscribe(t))
	}
	return errors.Join(errs...)
}

// startLibzmq starts what a libzmq socket needs once it is attached.
func (s *Socket) startLibzmq() { s.re = startReattacher(s) }

func (s *Socket) attachLibzmq(ep endpoint.Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep.Role == endpoint.Bind {
		if err := s.zs.Bind(ep.Addr); err != nil {
			return fmt.Errorf("bind %s: %w: %w", ep.Addr, ErrEndpoint, err)
		}
		last, err := s.zs.GetLastEndpoint()
		if err != nil {
			return zmqErr("last endpoint", err)
		}
		s.bound = append(s.bound, last)
		return nil
	}
	if err := s.zs.Connect(ep.Addr); err != nil {
		return fmt.Errorf("connect %s: %w: %w", ep.Addr, ErrEndpoint, err)
	}
	return nil
}

// closeLibzmq closes the libzmq socket, once done is closed.
func (s *Socket) closeLibzmq() error {
	if s.re != nil {
		s.re.stop()
	}
	// Every waiter wakes and sees closed: those in the blocking poll
	// through their eventfd, parked ones because closing their duplicate
	// evicts it from the poller.
	s.wake(dirRead)
	s.wake(dirWrite)
	// Unbinding before closing frees an inproc name at once; a tcp or ipc
	// listener closes on libzmq's I/O thread, and waiting (briefly) for
	// its "closed" event means the port can be bound again as soon as
	// Close returns, as a restarting server expects.
	s.mu.Lock()
	var listeners []string
	for _, ep := range s.bound {
		s.zs.Unbind(ep)
		if !strings.HasPrefix(ep, "inproc://") {
			listeners = append(listeners, ep)
		}
	}
	s.mu.Unlock()
	if s.mon != nil && len(listeners) > 0 {
		s.mon.waitClosed(listeners, 250*time.Millisecond)
	}
	s.mu.Lock()
	if s.mon != nil {
		// Stopping the monitor first queues MONITOR_STOPPED synchronously,
		// which is what lets the monitor goroutine end promptly.
		s.zs.Monitor("", 0)
	}
	err := s.zs.Close()
	s.fr.free()
	if s.notifyTimer != nil {
		s.notifyTimer.Stop()
	}
	s.mu.Unlock()
	if s.mon != nil {
		s.mon.stop(time.Second)
	}
	// The eventfds go once no waiter can be polling them: every waiter
	// has been woken and leaves at once.
	if s.drainWaiters(time.Second) {
		s.wakefd[0].close()
		s.wakefd[1].close()
	}
	return zmqErr("close", err)
}

// drainWaiters takes both waiter slots, so that no goroutine is left
// waiting on the socket, within timeout.
func (s *Socket) drainWaiters(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, sem := range []chan struct{}{s.rsem, s.wsem} {
		select {
		case sem <- struct{}{}:
		case <-t.C:
			return false
		}
	}
	return true
}

// with runs f with exclusive use of the libzmq socket.
func (s *Socket) with(f func(zs *zmq.Socket) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	err := f(s.zs)
	s.notifyLocked(dirNone)
	return err
}

// wakeReader makes the receive-side waiter, if any, try again. Facades
// call it when their own state changed in a way its condition depends on.
func (s *Socket) wakeReaderLibzmq() {
	if s.rwaiting.Load() {
		s.wake(dirRead)
	}
}

// unpark drops a direction's registration with the network poller, so
// that its edges stop waking the poller while waiters poll for
// themselves.
func (s *Socket) unpark(dir int) {
	s.parkMu.Lock()
	f := s.parked[dir-1]
	s.parked[dir-1], s.parkedConn[dir-1] = nil, nil
	s.parkMu.Unlock()
	if f != nil {
		f.Close()
	}
}

// wake makes the waiter of a direction (dirRead, dirWrite) try again,
// wherever it waits.
func (s *Socket) wake(dir int) {
	s.wakefd[dir-1].signal()
	s.parkMu.Lock()
	if f := s.parked[dir-1]; f != nil {
		if s.closed.Load() {
			f.Close() // evicts it from the poller: the waiter sees closed
			s.parked[dir-1], s.parkedConn[dir-1] = nil, nil
		} else {
			f.SetReadDeadline(aLongTimeAgo)
		}
	}
	s.parkMu.Unlock()
}

// Who makes a libzmq call, for notifyLocked.
const (
	dirNone  = iota // not a parked waiter
	dirRead         // the parked receive-side waiter
	dirWrite        // the parked send-side waiter
)

// notifyLocked wakes parked waiters whose condition may have become true
// during the libzmq call just made by someone else.
//
// Any libzmq call may process the socket's pending commands and so read
// the signalling eventfd. epoll reports an edge with the fd's state at
// delivery time, so when another goroutine's call drains the eventfd
// between the write and the poller's epoll_wait, the parked waiter gets
// no readable event at all, although its message has arrived. Calls made
// under s.mu therefore check ZMQ_EVENTS for the waiters they may have
// robbed and wake them by moving their deadline into the past; they
// re-check and park again if nothing is there.
//
// A check costs a libzmq call, so it is made at most once per
// notifyEvery; a call inside that window arms one deferred check
// instead. libzmq processes commands only now and then (sends at most
// about once a millisecond, receives every hundredth message or when
// empty), so a robbed waiter is rare and waits at most notifyEvery, while
// the common case, a waiter woken by its own edge, is untouched. With no
// waiter parked this costs two atomic loads.
func (s *Socket) notifyLocked(me int) {
	r := me != dirRead && s.rwaiting.Load()
	w := me != dirWrite && s.wwaiting.Load()
	if !r && !w {
		return
	}
	now := time.Since(s.born)
	if now-s.lastNotify >= notifyEvery {
		s.lastNotify = now
		s.checkLocked(r, w)
		return
	}
	if !s.notifyPending {
		s.notifyPending = true
		if s.notifyTimer == nil {
			s.notifyTimer = time.AfterFunc(notifyEvery, s.deferredNotify)
		} else {
			s.notifyTimer.Reset(notifyEvery)
		}
	}
}

// notifyEvery bounds how often notifyLocked asks libzmq for the socket's
// state, and so how long a robbed waiter can wait.
const notifyEvery = 50 * time.Microsecond

func (s *Socket) deferredNotify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyPending = false
	if s.closed.Load() {
		return
	}
	s.lastNotify = time.Since(s.born)
	s.checkLocked(s.rwaiting.Load(), s.wwaiting.Load())
}

// checkLocked wakes the reader (r) or writer (w) if its condition holds.
func (s *Socket) checkLocked(r, w bool) {
	ev, err := s.zs.GetEvents()
	if err != nil {
		return
	}
	if r && ev&zmq.POLLIN != 0 {
		s.wakeReader()
	}
	if w && ev&zmq.POLLOUT != 0 {
		s.wake(dirWrite)
	}
}

// do runs try, which must not block, until it succeeds, fails with
// anything but EAGAIN, the context ends or the socket is closed. write
// says which readiness the caller waits for (only to pick the waiter
// slot: libzmq signals both on one fd). try's raw libzmq error is
// returned; callers map it.
func (s *Socket) doLibzmq(ctx context.Context, write bool, try func() error) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	err := try()
	s.notifyLocked(dirNone)
	s.mu.Unlock()
	if !isAgain(err) {
		return err
	}
	return s.wait(ctx, write, try)
}

// aLongTimeAgo is a deadline that has passed, used to wake a waiter.
var aLongTimeAgo = time.Unix(1, 0)

func (s *Socket) wait(ctx context.Context, write bool, try func() error) error {
	sem, waiting, me := s.rsem, &s.rwaiting, dirRead
	if write {
		sem, waiting, me = s.wsem, &s.wwaiting, dirWrite
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-s.done:
		return ErrClosed
	}
	waiting.Store(true)
	if !s.background {
		waiters.Add(1)
	}
	defer func() {
		if !s.background {
			waiters.Add(-1)
		}
		waiting.Store(false)
		<-sem
	}()
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.background {
		if result, done := s.waitHot(ctx, me, try); done {
			return result
		}
	}
	return s.park(ctx, me, try)
}

// park waits in Go's network poller, on a duplicate of the socket's fd
// registered for it.
func (s *Socket) park(ctx context.Context, me int, try func() error) error {
	s.parkMu.Lock()
	f, conn := s.parked[me-1], s.parkedConn[me-1]
	if f == nil {
		var err error
		if f, conn, err = pollable(s.zfd, fmt.Sprintf("%s-%d", s.name, me)); err != nil {
			s.parkMu.Unlock()
			return err
		}
		s.parked[me-1], s.parkedConn[me-1] = f, conn
	}
	s.parkMu.Unlock()
	if s.closed.Load() { // Close may have looked for parked waiters before we were one
		return ErrClosed
	}
	deadline, hasDeadline := ctx.Deadline()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(aLongTimeAgo) })
		defer stop()
	}
	for {
		if err := ctx.Err(); err != nil {
			return ctxErr(ctx)
		}
		// Deadline() is zero for a context without one, which clears any
		// deadline a previous wake-up left.
		if err := f.SetReadDeadline(deadline); err != nil {
			if s.closed.Load() {
				return ErrClosed
			}
			return err
		}
		var result error
		// The check runs inside RawRead, after the poller was armed, so an
		// edge that arrives between a failed try and the park is not lost.
		perr := conn.Read(func(uintptr) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.closed.Load() {
				result = ErrClosed
				return true
			}
			result = try()
			s.notifyLocked(me)
			return !isAgain(result)
		})
		if perr == nil {
			return result
		}
		if s.closed.Load() {
			return ErrClosed
		}
		if errors.Is(perr, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil || (hasDeadline && !time.Now().Before(deadline)) {
				return ctxErr(ctx)
			}
			continue // a wake-up: try again
		}
		return perr
	}
}

// hotWait is how long a waiter first waits the way libzmq's own blocking
// calls do, in a blocking poll of the socket's fd, before it parks in Go's
// network poller. The poller costs a hand-off between threads on every
// wake-up (tens of microseconds, most of a loopback round trip), which
// is what made request/reply slower than raw libzmq; the poll wakes the
// waiting thread directly. Past hotWait an idle socket costs nothing: it
// is parked, as before. A REQ or REP socket waits its hot wait inside
// libzmq's blocking receive itself (blockHot), as raw zmq_recv does:
// a receive that tries, then polls, then receives makes two system calls
// more per message, a tenth of a round trip on a virtual machine.
const hotWait = 500 * time.Microsecond

// waiters counts the goroutines waiting in any socket of the process.
// The blocking poll pays off only while they are few: many waiters (eight
// requesters, eight workers) are served better by the network poller,
// which wakes several of them per system call, than by a thread each
// competing for the cores.
var waiters atomic.Int32

// hotLimit is how many waiters may use the blocking poll at once, and the
// most waiters there may be for any of them to. A thread in the poll
// holds its P until the scheduler's monitor takes it back (after 20 µs,
// or as much as 10 ms when the process has long been idle), so one P is
// always left to the rest of the program.
var hotLimit = int32(max(runtime.GOMAXPROCS(0)-1, 1))

var hotNow atomic.Int32

// waitHot waits up to hotWait in a blocking poll, retrying try on each
// wake-up; done says whether it has the result.
func (s *Socket) waitHot(ctx context.Context, me int, try func() error) (result error, done bool) {
	if waiters.Load() > hotLimit {
		return nil, false
	}
	if hotNow.Add(1) > hotLimit {
		hotNow.Add(-1)
		return nil, false
	}
	defer hotNow.Add(-1)
	s.unpark(me)
	wake := s.wakefd[me-1]
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, wake.signal)
		defer stop()
	}
	until := time.Now().Add(hotWait)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	// A REQ or REP receive waits in libzmq itself, holding mu (its sends
	// and receives alternate, so nobody else needs it): a wake-up (Close,
	// a cancelled context) is seen when the wait ends, at most hotWait
	// (rounded up to libzmq's millisecond) later. Any other waits in a
	// poll of its own, unlocked; so does a read-side try that turns out
	// not to be a receive (Wait), which would otherwise spin.
	block := s.blockHot && me == dirRead
	for {
		left := time.Until(until)
		if left <= 0 {
			return nil, false
		}
		if !block {
			waitFD(s.zfd, wake.fd, left) // no lock: the fd is closed only once no waiter is left
		}
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return ErrClosed, true
		}
		if block {
			s.blockFor, s.blocked = left, false
		}
		result = try()
		if block && !s.blocked {
			block = false
		}
		s.blockFor = 0
		s.notifyLocked(me)
		s.mu.Unlock()
		if !isAgain(result) {
			return result, true
		}
		if ctx.Err() != nil {
			return ctxErr(ctx), true
		}
	}
}

// sendLibzmq is sendWith on libzmq; it returns the raw error.
func (s *Socket) sendLibzmq(ctx context.Context, frames [][]byte, before func()) error {
	// The first attempt is made here rather than through do so that the
	// common case allocates no closure.
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if before != nil {
		before()
	}
	err := sendFrames(s.zs, s.fr, frames)
	s.notifyLocked(dirNone)
	s.mu.Unlock()
	if isAgain(err) {
		err = s.sendSlow(ctx, frames, before)
	}
	return err
}

// sendSlow waits until the message can be sent. It works on a copy of
// the frame list, so that the caller's (often a variadic argument) need
// not escape to the heap on the fast path.
func (s *Socket) sendSlow(ctx context.Context, frames [][]byte, before func()) error {
	copied := append([][]byte(nil), frames...)
	wctx, cancel := s.sendWaitCtx(ctx)
	defer cancel()
	err := s.waitSend(wctx, copied, before)
	if s.sendWait > 0 && ctx.Err() == nil && errors.Is(err, ErrTimeout) {
		s.mu.Lock()
		if !s.closed.Load() && s.sendStuck() {
			err = sendFrames(s.zs, s.fr, copied)
			s.notifyLocked(dirNone)
		}
		s.mu.Unlock()
	}
	return err
}

func (s *Socket) waitSend(ctx context.Context, copied [][]byte, before func()) error {
	return s.wait(ctx, true, func() error {
		if before != nil {
			before()
		}
		// A send processes libzmq's pending commands only now and then
		// (it is throttled), so the command that makes the socket
		// writable again (a pipe attached, a peer reading below its
		// high-water mark) could sit unprocessed while its wakeup is
		// spent. Asking for ZMQ_EVENTS processes them unthrottled.
		s.zs.GetEvents()
		return sendFrames(s.zs, s.fr, copied)
	})
}

// errMidMessage marks a failure after the first frame, which must not be
// retried (the first frames are already queued).
type errMidMessage struct{ err error }

func (e errMidMessage) Error() string { return "send: failed after first frame: " + e.err.Error() }
func (e errMidMessage) Unwrap() error { return e.err }

func sendFrames(zs *zmq.Socket, fr *frameReader, frames [][]byte) error {
	send := func(b []byte, f zmq.Flag) error {
		if fr != nil {
			return fr.send(b, f)
		}
		_, err := zs.SendBytes(b, f)
		return err
	}
	last := len(frames) - 1
	flag := zmq.DONTWAIT
	if last > 0 {
		flag |= zmq.SNDMORE
	}
	if err := send(frames[0], flag); err != nil {
		return err
	}
	// libzmq counts its high-water mark in whole messages, so once the
	// first frame is accepted the rest never block.
	for i := 1; i <= last; i++ {
		f := zmq.Flag(0)
		if i < last {
			f = zmq.SNDMORE
		}
		if err := send(frames[i], f); err != nil {
			return errMidMessage{err}
		}
	}
	return nil
}

// recvLibzmq is recv on libzmq; it returns the raw error.
func (s *Socket) recvLibzmq(ctx context.Context) (Message, error) {
	var msg Message
	var err error
	if s.blockHot {
		// No try first: the blocking receive the wait starts with takes
		// a message that is there at once, and a try that finds none
		// costs libzmq a poll of its own (it resets the count that lets
		// a blocking receive go straight to its wait).
		msg, err = s.recvSlow(ctx)
	} else {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		msg, err = s.recvFrames()
		s.notifyLocked(dirNone)
		s.mu.Unlock()
		if isAgain(err) {
			msg, err = s.recvSlow(ctx)
		}
	}
	return msg, err
}

// recvUserLibzmq is recvUser on libzmq; it returns the raw error.
func (s *Socket) recvUserLibzmq(ctx context.Context) (Message, string, error) {
	var msg Message
	var user string
	err := s.doLibzmq(ctx, false, func() error {
		var err error
		msg, err = s.recvFrames()
		user = s.lastUser
		return err
	})
	return msg, user, err
}

// recvSlow waits for a message. It is apart from recv so that only a
// caller that has to wait pays for the closure.
func (s *Socket) recvSlow(ctx context.Context) (Message, error) {
	var msg Message
	err := s.wait(ctx, false, func() error {
		var err error
		msg, err = s.recvFrames()
		return err
	})
	return msg, err
}

// recvFrames receives all frames of one message without blocking;
// s.mu must be held.
func (s *Socket) recvFrames() (Message, error) {
	if s.fr == nil {
		return recvFramesPebbe(s.zs)
	}
	if s.batch {
		return s.nextQueued(false)
	}
	s.blocked = s.blockFor > 0
	first, more, user, err := s.fr.recvWait(zmq.DONTWAIT, s.blockFor, s.cfg.userID)
	if err != nil {
		return nil, err
	}
	s.lastUser = user
	msg := Message{first}
	for more {
		var part []byte
		var partUser string
		// The rest of a message is already there: libzmq delivers
		// messages whole. A ROUTER's identity frame may lack the
		// properties (libzmq leaves them off when ZMQ_EVENTS prefetched
		// the message), so the User-Id is also read from the others.
		if part, more, partUser, err = s.fr.recv(0, s.cfg.userID && s.lastUser == ""); err != nil {
			return nil, err
		}
		if partUser != "" {
			s.lastUser = partUser
		}
		msg = append(msg, part)
	}
	return msg, nil
}

// nextQueued hands out the next message read ahead, reading a batch
// when none is left; view says the caller is done with the message
// before it unlocks s.mu (see recvView), so it may point into the
// reader's buffer. s.mu must be held.
func (s *Socket) nextQueued(view bool) (Message, error) {
	if s.head == len(s.queue) {
		if err := s.refill(view); len(s.queue) == 0 {
			return nil, err
		}
	}
	msg := s.queue[s.head]
	s.queue[s.head] = nil
	s.head++
	if s.views && !view {
		msg = cloneMessage(msg)
	}
	if s.head < len(s.queue) && s.rwaiting.Load() {
		s.wakeReader() // another receiver may be waiting for what is left
	}
	return msg, nil
}

// refill reads ahead the messages that are there into the drained queue
// (see frameReader.batch for view); s.mu must be held.
func (s *Socket) refill(view bool) error {
	clear(s.queue)
	var err error
	s.queue, err = s.fr.batch(s.queue[:0], view)
	s.head, s.views = 0, view
	return err
}

// recvViewLibzmq is recvView on libzmq, decode called under s.mu: the
// frames may point into the socket's receive
// buffer, which the next receive reuses, so decode must be done with
// them when it returns (a decoder that copies what it keeps). It saves
// a copy and an allocation per message.
func recvViewLibzmq[T any](s *Socket, ctx context.Context, decode func(Message) (T, error)) (v T, derr, err error) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return v, nil, ErrClosed
	}
	v, derr, err = viewLocked(s, decode)
	s.notifyLocked(dirNone)
	s.mu.Unlock()
	if isAgain(err) {
		v, derr, err = recvViewSlow(s, ctx, decode)
	}
	return v, derr, err
}

// recvViewSlow waits for the message: a function of its own, so that the
// variables its closure captures (which escape) are not the fast path's.
func recvViewSlow[T any](s *Socket, ctx context.Context, decode func(Message) (T, error)) (v T, derr, err error) {
	err = s.wait(ctx, false, func() error {
		var e error
		v, derr, e = viewLocked(s, decode)
		return e
	})
	return v, derr, err
}

// viewLocked takes the next message and decodes it; s.mu must be held.
func viewLocked[T any](s *Socket, decode func(Message) (T, error)) (v T, derr, err error) {
	var msg Message
	if s.batch {
		msg, err = s.nextQueued(true)
	} else {
		msg, err = s.recvFrames()
	}
	if err != nil {
		return v, nil, err
	}
	v, derr = decode(msg)
	return v, derr, nil
}

func recvFramesPebbe(zs *zmq.Socket) (Message, error) {
	first, err := zs.RecvBytes(zmq.DONTWAIT)
	if err != nil {
		return nil, err
	}
	if len(first) >= largeFrame {
		noteLargeFrame()
	}
	msg := Message{first}
	for {
		more, err := zs.GetRcvmore()
		if err != nil {
			return nil, err
		}
		if !more {
			return msg, nil
		}
		part, err := zs.RecvBytes(0)
		if err != nil {
			return nil, err
		}
		msg = append(msg, part)
	}
}

// waitReadable blocks until a message can be received, without
// receiving it.
func (s *Socket) waitReadableLibzmq(ctx context.Context) error {
	err := s.doLibzmq(ctx, false, func() error {
		if s.head < len(s.queue) {
			return nil // read ahead already
		}
		ev, err := s.zs.GetEvents()
		if err != nil {
			return err
		}
		if ev&zmq.POLLIN != 0 {
			return nil
		}
		return errAgain
	})
	return s.mapErr("wait", err)
}

// lockedLibzmq is locked on libzmq.
func (s *Socket) lockedLibzmq(f func()) error {
	return s.with(func(*zmq.Socket) error { f(); return nil })
}

// subscribeLibzmq is subscribe on libzmq.
func (s *Socket) subscribeLibzmq(on bool, topics []string) error {
	return s.with(func(zs *zmq.Socket) error {
		for _, t := range topics {
			set := zs.SetSubscribe
			if !on {
				set = zs.SetUnsubscribe
			}
			if err := set(t); err != nil {
				return err
			}
		}
		return nil
	})
}

// tryNoticeLibzmq is tryNotice on libzmq.
func (s *Socket) tryNoticeLibzmq() ([]byte, bool) {
	b, err := s.zs.RecvBytes(zmq.DONTWAIT)
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}

// setNoDropLibzmq is setNoDrop on libzmq.
func (s *Socket) setNoDropLibzmq(on bool) { s.zs.SetXpubNodrop(on) }
