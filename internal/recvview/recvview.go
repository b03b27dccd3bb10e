// Package recvview lets the messaging layer decode a message straight out
// of a connection-layer socket's receive buffer, without the copy the
// socket's Recv makes so that a caller may keep what it receives. It is
// internal because what it hands out is valid only while the callback
// runs: a decoder that copies what it keeps (as Protobuf's does) may use
// it; nothing that keeps the frames may.
package recvview

import "context"

// Recv receives one message on sock (a *connection.Subscriber) and
// returns what decode made of its frames, which are valid only until
// decode returns; err is the socket's error, derr decode's. Package
// connection sets it; for any other socket it reports ok false and
// receives nothing.
//
// decode is best made once per receiver (a method value), not per call:
// a closure passed here escapes to the heap.
var Recv func(sock any, ctx context.Context, decode Decoder) (v any, derr error, ok bool, err error)

// Decoder makes a value of a message's frames.
type Decoder func(frames [][]byte) (any, error)
