// Package msgserve holds what the messaging Reactor and patterns' Broker
// do with a request's header: read when its requester stops waiting, and
// (the broker, which forwards envelopes it does not decode) replace it.
package msgserve

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

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

// headerField is the envelope's field that carries the header
// (MsgEnvelope.header, docs/protocol.md).
const headerField = 3

// errNotEnvelope is what ReplaceHeader returns for bytes that are no
// protobuf message, let alone an envelope.
var errNotEnvelope = errors.New("not a message envelope")

// ReplaceHeader returns the envelope with h as its header instead of the
// one it had (none with an empty or nil h), its other fields, the message
// among them, untouched: a broker puts itself in a request's trace this
// way without knowing the request's type. The caller has checked that
// envelope is one (messaging.DecodeHeader); bytes that do not even parse
// as protobuf fields are an error.
func ReplaceHeader(envelope []byte, h *msglib.MsgHeader) ([]byte, error) {
	out := make([]byte, 0, len(envelope)+64)
	for b := envelope; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %v", errNotEnvelope, protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("%w: %v", errNotEnvelope, protowire.ParseError(m))
		}
		if num != headerField {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	if h != nil {
		hdr, err := proto.Marshal(h)
		if err != nil {
			return nil, fmt.Errorf("encode header: %w", err)
		}
		if len(hdr) > 0 {
			out = protowire.AppendTag(out, headerField, protowire.BytesType)
			out = protowire.AppendBytes(out, hdr)
		}
	}
	return out, nil
}
