package zmtp

import (
	"sync"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// The send queue of a peer is a byte stream of plain ZMTP frames kept in
// fixed-size chunks: a send copies its message onto the end of the last
// chunk (and on into new ones when it does not fit), and the writer
// hands the chunks at the front to one writev. Nothing is copied as the
// queue grows, and a written chunk goes back to a pool for the next.
//
// Memory: the chunks of one peer's queue hold its queued bytes (at most
// Options.SendQueueBytes, or one message of any size when the queue was
// empty) plus what is left unfilled of its first and last chunk: at most
// SendQueueBytes + 2*bigChunk. An empty queue holds no chunk. A queue's
// first chunk is a small one, so that a peer with a message or two
// queued costs smallChunk, not bigChunk. Spare chunks are shared by every
// socket of the process through sync.Pools, which the garbage collector
// empties.
const (
	smallChunk = 4 << 10
	bigChunk   = 64 << 10
	// writeBatchMax is about the most bytes one write is handed (it takes
	// whole chunks, so up to a chunk more): chunks are recycled as the
	// batch they went out in returns.
	writeBatchMax = 1 << 20
)

var (
	smallChunks = sync.Pool{New: func() any { return new([smallChunk]byte) }}
	bigChunks   = sync.Pool{New: func() any { return new([bigChunk]byte) }}
)

func getChunk(small bool) []byte {
	if small {
		return smallChunks.Get().(*[smallChunk]byte)[:0]
	}
	return bigChunks.Get().(*[bigChunk]byte)[:0]
}

func putChunk(b []byte) {
	switch cap(b) {
	case smallChunk:
		smallChunks.Put((*[smallChunk]byte)(b[:smallChunk]))
	case bigChunk:
		bigChunks.Put((*[bigChunk]byte)(b[:bigChunk]))
	}
}

// outQueue is what waits to be written on a peer's connection: whole
// messages, encoded as plain ZMTP frames (a mechanism's codec seals them
// as they are written), and commands, which go first and are dropped
// with the connection.
//
// Positions count bytes of the stream since the queue was made: pos is
// the end of what was queued, done the end of what was written. Only the
// one holding writing (the writer loop) reads the front of the queue
// outside mu; senders only append to its end, under mu.
type outQueue struct {
	mu      sync.Mutex
	chunks  [][]byte // the queued bytes: chunks[head][off:], chunks[head+1], ...
	head    int
	off     int
	bytes   int64   // queued and not yet written, in flight included
	n       int     // messages not completely written, in flight included
	ends    []int64 // FIFO from endsHead: where each of those n messages ends
	endsHd  int
	pos     int64
	done    int64
	msgEnd  int64 // where the last completely written message ended
	writing bool  // a write of the front is on its way
	cmd     []byte
	wake    chan struct{}

	// direct is the connection's descriptor for a sender's own write
	// (nil: none, or a codec); lastBusy is when the queue last had a send
	// or a write (monoNow); idle wakes one waiting for writing to end.
	direct   *rawWriter
	lastBusy int64
	idle     sync.Cond
	waiters  int
}

// quiesce stops senders' own writes and waits until none is on its way.
// mu held.
func (w *outQueue) quiesce() {
	w.direct = nil
	for w.writing {
		w.waiters++
		w.idle.Wait()
		w.waiters--
	}
}

// push appends one message, the frames of pre and then msg's, of size
// encoded bytes. mu held.
func (w *outQueue) push(pre, msg [][]byte, size int) {
	var hdr [9]byte
	last, i := len(pre)+len(msg)-1, 0
	for _, part := range [2][][]byte{pre, msg} {
		for _, f := range part {
			var flags byte
			if i < last {
				flags = wire.FlagMore
			}
			w.appendBytes(wire.AppendFrameHeader(hdr[:0], flags, len(f)))
			w.appendBytes(f)
			i++
		}
	}
	w.pos += int64(size)
	w.bytes += int64(size)
	w.n++
	if w.endsHd > 0 && w.endsHd == len(w.ends) {
		w.ends, w.endsHd = w.ends[:0], 0
	} else if w.endsHd > 1024 && 2*w.endsHd > len(w.ends) {
		w.ends = w.ends[:copy(w.ends, w.ends[w.endsHd:])]
		w.endsHd = 0
	}
	w.ends = append(w.ends, w.pos)
}

// appendBytes copies b onto the end of the queue. mu held.
func (w *outQueue) appendBytes(b []byte) {
	for len(b) > 0 {
		last := len(w.chunks) - 1
		if last < w.head || len(w.chunks[last]) == cap(w.chunks[last]) {
			// The first chunk of a queue is a small one.
			w.addChunk(getChunk(last < w.head))
			last = len(w.chunks) - 1
		}
		c := w.chunks[last]
		k := copy(c[len(c):cap(c)], b)
		w.chunks[last] = c[:len(c)+k]
		b = b[k:]
	}
}

func (w *outQueue) addChunk(c []byte) {
	if w.head > 0 && 2*w.head >= len(w.chunks) {
		n := copy(w.chunks, w.chunks[w.head:])
		clear(w.chunks[n:])
		w.chunks, w.head = w.chunks[:n], 0
	}
	w.chunks = append(w.chunks, c)
}

// take returns (in iov) the front of the queue, whole chunks until at
// least limit bytes or the end, and how many bytes that is. The caller
// holds writing; mu held.
func (w *outQueue) take(iov [][]byte, limit int) ([][]byte, int) {
	total := 0
	for i := w.head; i < len(w.chunks) && total < limit; i++ {
		c := w.chunks[i]
		if i == w.head {
			c = c[w.off:]
		}
		if len(c) == 0 {
			break
		}
		iov = append(iov, c[:len(c):len(c)])
		total += len(c)
	}
	return iov, total
}

// consume drops k written bytes from the front and returns how many
// messages they completed. mu held.
func (w *outQueue) consume(k int) (msgs int) {
	w.done += int64(k)
	w.bytes -= int64(k)
	for k > 0 {
		c := w.chunks[w.head]
		rest := len(c) - w.off
		if k < rest {
			w.off += k
			break
		}
		k -= rest
		w.off = len(c)
		if w.head == len(w.chunks)-1 {
			break // the last chunk: released below once all of it went out
		}
		putChunk(c)
		w.chunks[w.head] = nil
		w.head++
		w.off = 0
	}
	if w.done == w.pos && len(w.chunks) > 0 {
		// Everything went out: the last chunk goes back too, and an idle
		// queue holds no memory.
		putChunk(w.chunks[w.head])
		clear(w.chunks)
		w.chunks, w.head, w.off = w.chunks[:0], 0, 0
	}
	for w.endsHd < len(w.ends) && w.ends[w.endsHd] <= w.done {
		w.msgEnd = w.ends[w.endsHd]
		w.endsHd++
		msgs++
	}
	w.n -= msgs
	return msgs
}

// midMessage reports whether the bytes written so far end inside a
// message: until its end has gone out, nothing else (a command) may.
func (w *outQueue) midMessage() bool { return w.done != w.msgEnd }

// dropPartial drops the rest of a message partly written on a
// connection that ended, so that the next connection starts at a
// message; it returns the messages dropped (0 or 1). mu held.
func (w *outQueue) dropPartial() int {
	if !w.midMessage() {
		return 0
	}
	return w.consume(int(w.ends[w.endsHd] - w.done))
}

// clearAll drops everything queued and returns how many messages that
// was. mu held.
func (w *outQueue) clearAll() int {
	n := w.n
	for i := w.head; i < len(w.chunks); i++ {
		putChunk(w.chunks[i])
	}
	clear(w.chunks)
	w.chunks, w.head, w.off = w.chunks[:0], 0, 0
	w.done, w.msgEnd, w.bytes, w.n = w.pos, w.pos, 0, 0
	w.ends, w.endsHd = w.ends[:0], 0
	return n
}

// frameLen is the encoded size of the frame at the front of the queue
// (0 if the queue is empty). mu held.
func (w *outQueue) frameLen() int {
	var hdr [9]byte
	n := 0
	for i := w.head; i < len(w.chunks) && n < len(hdr); i++ {
		c := w.chunks[i]
		if i == w.head {
			c = c[w.off:]
		}
		n += copy(hdr[n:], c)
	}
	if n < 2 {
		return 0
	}
	if hdr[0]&wire.FlagLong == 0 {
		return 2 + int(hdr[1])
	}
	size := 0
	for _, b := range hdr[1:9] {
		size = size<<8 | int(b)
	}
	return 9 + size
}

// carver hands out frame lists and small bodies carved one after another
// out of larger allocations: a message costs no allocation of its own.
// What is carved is never written again, so a receiver may keep it.
type carver struct {
	frames [][]byte
	bytes  []byte
}

const (
	frameSlabLen = 256      // frame lists of a slab
	byteSlabSize = 32 << 10 // bytes of a slab
	slabBodyMax  = 1024     // a larger body is an allocation of its own
	// A message larger than slabPinMax gets a frame list of its own: a
	// slab's list keeps its bodies alive as long as the slab is (the
	// reader carves from it for up to 255 more messages), which must not
	// hold a 100 MB message's memory after it was handled. The slab's
	// messages thus pin at most frameSlabLen × slabPinMax bytes.
	slabPinMax = 4 << 10
)

// frameList returns n frames' room.
func (sl *carver) frameList(n int) [][]byte {
	if cap(sl.frames)-len(sl.frames) < n {
		sl.frames = make([][]byte, 0, max(frameSlabLen, n))
	}
	l := len(sl.frames)
	sl.frames = sl.frames[:l+n]
	return sl.frames[l : l+n : l+n]
}

// frameListFor returns n frames' room for a message of size bytes.
func (sl *carver) frameListFor(n, size int) [][]byte {
	if size > slabPinMax {
		return make([][]byte, n)
	}
	return sl.frameList(n)
}

// body returns n bytes' room.
func (sl *carver) body(n int) []byte {
	if n > slabBodyMax {
		return make([]byte, n)
	}
	if cap(sl.bytes)-len(sl.bytes) < n {
		sl.bytes = make([]byte, 0, byteSlabSize)
	}
	l := len(sl.bytes)
	sl.bytes = sl.bytes[:l+n]
	return sl.bytes[l : l+n : l+n]
}

type slabMark struct{ frames, bytes int }

// mark and reset give back what was carved since the mark, when none of
// it was handed out.
func (sl *carver) mark() slabMark { return slabMark{len(sl.frames), len(sl.bytes)} }

func (sl *carver) reset(m slabMark) {
	if m.frames <= len(sl.frames) {
		clear(sl.frames[m.frames:])
		sl.frames = sl.frames[:m.frames]
	}
	if m.bytes <= len(sl.bytes) {
		sl.bytes = sl.bytes[:m.bytes]
	}
}
