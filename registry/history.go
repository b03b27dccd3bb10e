package registry

import (
	"context"
	"sync"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// historySize is how many of its last published changes a Server keeps
// for watchers catching up (ServiceChangesReq).
const historySize = 4096

// history is the changes a Server published since its store's watch
// began, the last historySize of them: what a watcher that missed notices
// asks for. It knows every change after floor (valid once the first change
// came: a store's watch delivers every change from its start, but the
// server does not know from which revision that was).
type history struct {
	mu     sync.Mutex
	ring   []*msglib.ServiceEvent // oldest first from start
	start  int
	floor  uint64
	valid  bool
	latest uint64
}

// reset forgets the history: the store's watch ended, and changes made
// before the next one begins may never be seen.
func (h *history) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring, h.start, h.valid = h.ring[:0], 0, false
}

// add records a published change.
func (h *history) add(ev *msglib.ServiceEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Revision == 0 {
		return // a store that numbers no changes: nothing to resume from
	}
	if !h.valid {
		h.floor, h.valid = ev.Revision-1, true
	}
	h.latest = max(h.latest, ev.Revision)
	if len(h.ring) < historySize {
		h.ring = append(h.ring, ev)
		return
	}
	h.floor = h.ring[h.start].Revision // every change after the evicted one is still here
	h.ring[h.start] = ev
	h.start = (h.start + 1) % len(h.ring)
}

// after returns the changes after rev, and whether they are all of them.
func (h *history) after(rev uint64) *msglib.ServiceChangesRep {
	h.mu.Lock()
	defer h.mu.Unlock()
	rep := &msglib.ServiceChangesRep{Complete: h.valid && rev >= h.floor, Revision: h.latest}
	for i := range h.ring {
		if ev := h.ring[(h.start+i)%len(h.ring)]; ev.Revision > rev {
			rep.Events = append(rep.Events, ev)
		}
	}
	return rep
}

// changes answers a watcher catching up: what this server published
// after the revision it last saw.
func (s *Server) changes(_ context.Context, m *msglib.ServiceChangesReq, from messaging.Peer) (*msglib.ServiceChangesRep, error) {
	if !s.mayLook("", from) {
		return &msglib.ServiceChangesRep{}, nil
	}
	return s.hist.after(m.AfterRevision), nil
}
