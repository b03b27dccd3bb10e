package messaging

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"maps"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The header travels only when there is something to say: an envelope
// with no deadline, no metadata, no trace context and no sequence is byte
// for byte v1.

type outgoingKey struct{}
type incomingKey struct{}

// AppendMetadata returns a context whose requests and published messages
// carry the key/value pairs kv (key, value, key, value, …) in their
// header, added to any the context carried already. A handler reads them
// with IncomingHeader(ctx).GetMetadata(). A trailing key with no value is
// ignored.
func AppendMetadata(ctx context.Context, kv ...string) context.Context {
	old, _ := ctx.Value(outgoingKey{}).(map[string]string)
	md := make(map[string]string, len(old)+len(kv)/2)
	maps.Copy(md, old)
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return context.WithValue(ctx, outgoingKey{}, md)
}

// outgoingMetadata returns the metadata AppendMetadata put in ctx (nil
// when none). The map must not be changed.
func outgoingMetadata(ctx context.Context) map[string]string {
	md, _ := ctx.Value(outgoingKey{}).(map[string]string)
	return md
}

// OutgoingHeader returns the header a Request made with opts would send m
// with in ctx: ctx's metadata (AppendMetadata) and what the WithOutgoing
// hooks among opts set. It is for what encodes its own envelopes and
// sends them by other means than this package's endpoints (patterns'
// Client): that adds fields of its own (TimeoutUs) and calls Encode.
func OutgoingHeader(ctx context.Context, m proto.Message, opts ...RequestOption) *Header {
	c := newConfig(opts, RequestOption.applyRequest)
	h := &Header{Metadata: maps.Clone(outgoingMetadata(ctx))}
	for _, f := range c.outgoing {
		f(ctx, m, h)
	}
	return h
}

// IncomingHeader returns the header of the message a handler is handling
// (nil when it came without one, as from a v1 peer). Its getters are safe
// on nil. Handlers must not change it.
func IncomingHeader(ctx context.Context) *Header {
	h, _ := ctx.Value(incomingKey{}).(*Header)
	return h
}

// stamp says which header fields an endpoint's sends carry.
type stamp uint8

const (
	stampNone     stamp = 0
	stampDeadline stamp = 1 << iota // the context's remaining time (requests)
	stampContext                    // metadata and the outgoing hooks
)

// appendHeader appends the serialized header of m sent with ctx to dst.
func (c *core) appendHeader(dst []byte, ctx context.Context, m proto.Message, s stamp) []byte {
	if s&stampDeadline != 0 {
		if d, ok := ctx.Deadline(); ok {
			us := time.Until(d).Microseconds()
			dst = protowire.AppendTag(dst, 1, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(max(us, 1))) // 0 would mean "no deadline"
		}
	}
	if s&stampContext == 0 {
		return dst
	}
	md := outgoingMetadata(ctx)
	if md == nil && len(c.outgoing) == 0 {
		return dst
	}
	h := &Header{Metadata: md}
	for _, f := range c.outgoing {
		f(ctx, m, h)
	}
	// Serialized messages concatenate as a merge, so the hand-written
	// fields and these combine.
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, h)
	if err != nil {
		return dst // only invalid UTF-8 can fail: send without it rather than not at all
	}
	return b
}

// keepHeader reports whether a received header is worth parsing for the
// handler: one that carries only a publisher's sequence (every published
// message's) is not, so that pub/sub pays nothing for it. IncomingHeader
// on a Subscriber's message therefore has no publisher or sequence.
func keepHeader(hdr []byte) bool {
	for len(hdr) > 0 {
		num, typ, n := protowire.ConsumeTag(hdr)
		if n < 0 {
			return true // let the parser say what is wrong
		}
		if num != 5 && num != 6 {
			return true
		}
		hdr = hdr[n:]
		if n = protowire.ConsumeFieldValue(num, typ, hdr); n < 0 {
			return true
		}
		hdr = hdr[n:]
	}
	return false
}

// sequencer stamps a Publisher's messages with its id and a sequence
// number per message type.
type sequencer struct {
	id     string
	prefix []byte     // the header's fields up to the number: tag 5, id, tag 6
	mu     sync.Mutex // held from numbering to sending, so numbers go out in order
	// Guarded by mu: the last number sent per type, and the last type's
	// counter, since a publisher mostly sends one type after another.
	last     map[string]*uint64
	lastName string
	lastSeq  *uint64
}

func newSequencer() *sequencer {
	var b [9]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	prefix := protowire.AppendString(protowire.AppendTag(nil, 5, protowire.BytesType), id)
	prefix = protowire.AppendTag(prefix, 6, protowire.VarintType)
	return &sequencer{id: id, prefix: prefix, last: map[string]*uint64{}}
}

// lock takes mu, or gives up when ctx ends first. Uncontended it costs
// what a mutex costs (a channel used as a lock cost 5% of pub/sub
// throughput); a Send that finds another under way waits for it on a
// goroutine of its own, so that its context still bounds it.
func (s *sequencer) lock(ctx context.Context) error {
	if s.mu.TryLock() {
		return nil
	}
	locked := make(chan struct{})
	go func() { s.mu.Lock(); close(locked) }()
	select {
	case <-locked:
		return nil
	case <-ctx.Done():
		go func() { <-locked; s.mu.Unlock() }() // hand the lock straight back once it comes
		return ctx.Err()
	}
}

// counter returns the counter of type name; the caller holds mu.
func (s *sequencer) counter(name string) *uint64 {
	if s.lastSeq != nil && name == s.lastName {
		return s.lastSeq
	}
	c := s.last[name]
	if c == nil {
		c = new(uint64)
		s.last[name] = c
	}
	s.lastName, s.lastSeq = name, c
	return c
}

func (s *sequencer) appendTo(dst []byte, seq uint64) []byte {
	return protowire.AppendVarint(append(dst, s.prefix...), seq)
}

// maxStreams bounds how many (publisher, type) sequences a Subscriber
// follows, so that peers inventing publisher ids cannot grow its memory:
// 4096 streams are about 400 KB.
const maxStreams = 4096

// gapTracker follows each (publisher, type) sequence a Subscriber sees
// and counts the messages missing between them.
type gapTracker struct {
	mu      sync.Mutex
	last    map[string]map[string]*uint64 // publisher → type → last sequence
	lostBy  map[string]uint64             // publisher → messages lost
	streams int
	lost    uint64
	// The stream of the last message.
	cached                *uint64
	cachedName, cachedPub string
}

func newGapTracker() *gapTracker {
	return &gapTracker{last: map[string]map[string]*uint64{}, lostBy: map[string]uint64{}}
}

// seqFields reads the publisher and sequence of a serialized header.
func seqFields(hdr []byte) (pub []byte, seq uint64) {
	for len(hdr) > 0 {
		num, typ, n := protowire.ConsumeTag(hdr)
		if n < 0 {
			return nil, 0
		}
		hdr = hdr[n:]
		switch {
		case num == 5 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(hdr)
			if n < 0 {
				return nil, 0
			}
			pub, hdr = v, hdr[n:]
		case num == 6 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(hdr)
			if n < 0 {
				return nil, 0
			}
			seq, hdr = v, hdr[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, hdr)
			if n < 0 {
				return nil, 0
			}
			hdr = hdr[n:]
		}
	}
	return pub, seq
}

// see records one message; it returns how many were lost just before it
// (0 when none, or when the stream is new: a publisher that started, or
// that this subscriber began to hear, is a new sequence, not a loss).
func (g *gapTracker) see(pub []byte, name string, seq uint64) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var last *uint64
	var types map[string]*uint64
	if g.cached != nil && name == g.cachedName && string(pub) == g.cachedPub {
		last = g.cached // a subscriber mostly hears one stream after another
	} else {
		if types = g.last[string(pub)]; types != nil {
			last = types[name]
		}
		if last != nil {
			g.cached, g.cachedName, g.cachedPub = last, name, string(pub)
		}
	}
	if last == nil {
		if g.streams >= maxStreams {
			return 0 // not followed: its losses go uncounted
		}
		if types == nil {
			types = map[string]*uint64{}
			g.last[string(pub)] = types
		}
		v := seq
		types[name] = &v
		g.streams++
		return 0
	}
	prev := *last
	*last = seq
	if seq <= prev+1 {
		return 0 // in order, or a duplicate or reordering (not a loss)
	}
	lost := seq - prev - 1
	g.lost += lost
	g.lostBy[string(pub)] += lost
	return lost
}

func (g *gapTracker) total() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost
}

func (g *gapTracker) byPublisher() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.lostBy)
}

// track counts a received message's place in its sequence, logging a gap
// (rate-limited).
func (c *core) track(socket, name string, hdr []byte) {
	pub, seq := seqFields(hdr)
	if len(pub) == 0 || seq == 0 {
		return
	}
	if lost := c.gaps.see(pub, name, seq); lost > 0 {
		c.warn.Log(c.log, slog.LevelWarn, "messages lost between publisher and subscriber (a slow subscriber: see connection.WithSlowSubscriberWait)",
			"socket", socket, "publisher", string(pub), "type", name, "lost", lost)
	}
}
