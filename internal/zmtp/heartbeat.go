package zmtp

import (
	"time"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// heartbeat is a connection's ZMTP 3.1 heartbeating, run by its writer:
// a PING every interval, and the end of a connection on which nothing
// has arrived for the timeout, or for the TTL the peer asked for.
type heartbeat struct {
	st         *stream
	opt        Options
	t          *time.Ticker
	lastRx     uint64
	lastChange time.Time
}

func newHeartbeat(opt Options, st *stream) *heartbeat {
	h := &heartbeat{st: st, opt: opt, lastChange: time.Now()}
	if opt.HeartbeatInterval > 0 {
		h.t = time.NewTicker(opt.HeartbeatInterval)
	}
	return h
}

// c is the ticker's channel; nil (never ready) while there is no ticker.
func (h *heartbeat) c() <-chan time.Time {
	if h.t == nil {
		if ttl := time.Duration(h.st.peerTTL.Load()); ttl > 0 {
			// The peer asked to be dropped when silent: watch for it.
			h.t = time.NewTicker(max(ttl/4, 10*time.Millisecond))
		} else {
			return nil
		}
	}
	return h.t.C
}

func (h *heartbeat) stop() {
	if h.t != nil {
		h.t.Stop()
	}
}

// check ends a silent connection and sends the next PING.
func (h *heartbeat) check() error {
	now := time.Now()
	if rx := h.st.rx.Load(); rx != h.lastRx {
		h.lastRx, h.lastChange = rx, now
	}
	silent := now.Sub(h.lastChange)
	if h.opt.HeartbeatInterval > 0 && silent > h.opt.HeartbeatTimeout {
		return ErrHeartbeat
	}
	if ttl := time.Duration(h.st.peerTTL.Load()); ttl > 0 && silent > ttl {
		return ErrHeartbeat
	}
	if h.opt.HeartbeatInterval > 0 {
		ttl := h.opt.HeartbeatTTL / (100 * time.Millisecond)
		w := &h.st.p.w
		w.mu.Lock()
		w.cmd = wire.AppendPing(w.cmd, wire.Ping{TTL: uint16(min(ttl, 0xffff))})
		w.mu.Unlock()
		signal(w.wake)
	}
	return nil
}
