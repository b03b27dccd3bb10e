package patterns

import (
	"sync"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// requestIDSize is the size of the request id frame a Client puts before
// its payload: 8 bytes that name the client (random, new for every
// Client) and an 8-byte sequence number, big-endian. A request keeps its
// id across its attempts, whichever broker carries them, and a Worker
// takes a route that ends in a frame of this size as the request's id:
// see WithDedup.
const requestIDSize = 16

// requestID returns the request id at the end of msg's route, or "" when
// it carries none (a REQ client's route ends in the empty delimiter).
func requestID(msg connection.Message) string {
	r := msg.Route()
	if len(r) < 2 || len(r[len(r)-1]) != requestIDSize {
		return ""
	}
	return string(r[len(r)-1])
}

// entryOverhead is what one kept reply costs besides its bytes and its
// id: the entry, its map slot and its place in line.
const entryOverhead = 128

// replayCache keeps a worker's replies by request id for a window, in
// bounded memory, so that a request sent again is answered with the
// reply its first attempt got rather than by running the handler twice.
// An entry exists from the moment a handler starts: an attempt that
// arrives while the first is still running waits for its reply.
type replayCache struct {
	limit    int
	maxBytes int64
	window   time.Duration

	mu      sync.Mutex
	entries map[string]*replayEntry // running and kept
	kept    []*replayEntry          // kept replies, oldest first
	bytes   int64                   // the size of kept
	evicted uint64                  // kept replies dropped for the bounds before their window ended
}

type replayEntry struct {
	id       string
	finished bool
	done     chan struct{} // made by the first attempt that waits for it, closed when the handler finished
	reply    []byte        // what it answered; nil when it answered nothing
	at       time.Time     // when it finished
}

func newReplayCache(limit int, window time.Duration, maxBytes int64) *replayCache {
	if limit <= 0 {
		return nil
	}
	return &replayCache{limit: limit, maxBytes: maxBytes, window: window, entries: map[string]*replayEntry{}}
}

// begin returns the entry of request id and whether it is new: the
// caller then runs the handler and ends it with finish.
func (c *replayCache) begin(id string, now time.Time) (*replayEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	if e := c.entries[id]; e != nil {
		return e, false
	}
	e := &replayEntry{id: id}
	c.entries[id] = e
	return e, true
}

// wait returns a channel closed once e's handler has finished (at once
// if it has).
func (c *replayCache) wait(e *replayEntry) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.done == nil {
		e.done = make(chan struct{})
		if e.finished {
			close(e.done)
		}
	}
	return e.done
}

// finish ends e with the reply its handler sent (nil: none, and the
// request may run again, as a request whose handler failed or dropped it
// is meant to be retried).
func (c *replayCache) finish(e *replayEntry, reply []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.reply, e.at, e.finished = reply, now, true
	if e.done != nil {
		close(e.done)
	}
	if reply == nil {
		delete(c.entries, e.id)
		return
	}
	c.kept = append(c.kept, e)
	c.bytes += e.cost()
	for len(c.kept) > c.limit || (c.bytes > c.maxBytes && len(c.kept) > 0) {
		c.dropLocked()
		c.evicted++
	}
}

// expireLocked drops the kept replies whose window has ended.
func (c *replayCache) expireLocked(now time.Time) {
	for len(c.kept) > 0 && now.Sub(c.kept[0].at) > c.window {
		c.dropLocked()
	}
}

// dropLocked drops the oldest kept reply.
func (c *replayCache) dropLocked() {
	e := c.kept[0]
	c.kept[0] = nil
	c.kept = c.kept[1:]
	c.bytes -= e.cost()
	if c.entries[e.id] == e {
		delete(c.entries, e.id)
	}
}

func (e *replayEntry) cost() int64 { return int64(len(e.reply) + len(e.id) + entryOverhead) }

// stats returns how many replies are kept now and how many were evicted.
func (c *replayCache) stats() (kept int, evicted uint64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(time.Now())
	return len(c.kept), c.evicted
}
