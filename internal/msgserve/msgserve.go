// Package msgserve lets patterns' MsgWorker answer a request by the very
// rules a messaging Reactor answers by (the header's deadline and
// metadata, middleware, one reply or a refusal with its code) without
// package messaging exporting its plumbing. Package messaging sets Answer
// when it is initialised.
package msgserve

import (
	"context"
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/msglib"
)

// Answer handles one request with reactor (a *messaging.Reactor that
// serves no endpoint of its own): payload is the envelope, route the
// request's route frames, and reply sends an encoded envelope back. It
// returns the handler's error, or why no answer could be sent.
var Answer func(ctx context.Context, reactor any, route [][]byte, payload []byte, reply func([]byte) error) error

// Outgoing returns the messaging.WithOutgoing hooks among opts (each a
// messaging.Option), for a MsgClient, which encodes its own envelopes.
var Outgoing func(opts []any) []func(ctx context.Context, m proto.Message, h *msglib.MsgHeader)

// Check returns the error of an option given to reactor that is not a
// reactor's (what its Serve would return).
var Check func(reactor any) error

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
