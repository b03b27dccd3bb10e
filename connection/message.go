package connection

// Message is one ZeroMQ message: its frames, in order. A message that
// crossed a ROUTER carries identity frames first and the payload last
// ([identity frames..., payload]); Route and Payload split it that way, and
// Reply builds the answer that travels back along the same route.
type Message [][]byte

// Payload returns the last frame, or nil for an empty message.
func (m Message) Payload() []byte {
	if len(m) == 0 {
		return nil
	}
	return m[len(m)-1]
}

// Route returns the frames before the payload: the identities (and any
// empty delimiter) that routed the message here; nil for a one-frame
// message.
func (m Message) Route() [][]byte {
	if len(m) <= 1 {
		return nil
	}
	return m[:len(m)-1]
}

// Reply returns a message that carries payload back along m's route.
func (m Message) Reply(payload ...[]byte) Message {
	r := m.Route()
	out := make(Message, 0, len(r)+len(payload))
	out = append(out, r...)
	return append(out, payload...)
}

// cloneMessage copies m's frames into memory of their own (one
// allocation for all of them).
func cloneMessage(m Message) Message {
	size := 0
	for _, f := range m {
		size += len(f)
	}
	data := make([]byte, size)
	out := make(Message, len(m))
	off := 0
	for i, f := range m {
		n := copy(data[off:], f)
		out[i] = data[off : off+n : off+n]
		off += n
	}
	return out
}
