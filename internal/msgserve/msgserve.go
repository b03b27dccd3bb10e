// Package msgserve holds what the messaging Reactor and patterns' Broker
// both read of a request's header: when its requester stops waiting.
package msgserve

import (
	"math"
	"time"

	"github.com/dividere-go/dividere/msglib"
)

// Deadline is the requester's deadline for a message received at t with
// header h (false when it carries none): what the Reactor ends a handler
// at, and what the broker drops a queued request at.
func Deadline(h *msglib.MsgHeader, t time.Time) (time.Time, bool) {
	us := h.GetTimeoutUs()
	if us == 0 {
		return time.Time{}, false
	}
	return t.Add(time.Duration(min(us, uint64(math.MaxInt64/1000))) * time.Microsecond), true
}
