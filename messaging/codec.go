package messaging

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/dividere-go/dividere/msglib"
)

// Errors for a message that cannot be decoded. Each is an error for that
// one message: endpoints and reactors count it, log it and keep serving.
var (
	// ErrNotEnvelope: the bytes are not a msgEnvelope (garbage, an empty
	// frame, a truncated message).
	ErrNotEnvelope = errors.New("dividere: not a message envelope")
	// ErrNoPayload: an envelope with no msg (Any) field or no type.
	ErrNoPayload = errors.New("dividere: envelope carries no message")
	// ErrUnknownType: the envelope names a type the resolver does not know.
	ErrUnknownType = errors.New("dividere: unknown message type")
	// ErrCorrupt: the type is known but its bytes do not parse as it.
	ErrCorrupt = errors.New("dividere: corrupt message")
	// ErrWrongType: a typed receive or call got another type than asked.
	ErrWrongType = errors.New("dividere: unexpected message type")
)

// TypeURLPrefix is the prefix of an Any's type URL; the full name follows.
const TypeURLPrefix = "type.googleapis.com/"

// Resolver finds message types by full name and by type URL.
// protoregistry.GlobalTypes (every generated type linked into the
// program) is the default; a protoregistry.Types built from descriptor
// sets serves dynamic types.
type Resolver interface {
	FindMessageByName(protoreflect.FullName) (protoreflect.MessageType, error)
	FindMessageByURL(string) (protoreflect.MessageType, error)
}

// Codec encodes messages into docs/protocol.md envelopes and decodes them back.
// The zero value uses protoregistry.GlobalTypes and is ready to use.
type Codec struct {
	Resolver Resolver
}

func (c Codec) resolver() Resolver {
	if c.Resolver == nil {
		return protoregistry.GlobalTypes
	}
	return c.Resolver
}

// Encode wraps m in an envelope with the default Codec.
func Encode(m proto.Message) ([]byte, error) { return Codec{}.Encode(m) }

// Decode unwraps an envelope with the default Codec.
func Decode(b []byte) (proto.Message, error) { return Codec{}.Decode(b) }

// Encode wraps m in a msgEnvelope: msgName = m's full name, msg = an Any
// with type URL "type.googleapis.com/<full name>" and m's bytes. The
// output is byte for byte what marshalling the envelope with any
// Protobuf library gives, built in one allocation with m serialized once.
func (c Codec) Encode(m proto.Message) ([]byte, error) { return c.AppendEncode(nil, m) }

// AppendEncode appends m's envelope to dst, growing it at most once: for
// callers that reuse buffers.
func (c Codec) AppendEncode(dst []byte, m proto.Message) ([]byte, error) {
	return c.appendEncode(dst, m, nil)
}

// Header is the v2 envelope header (msgHeader): a request's deadline,
// trace context and metadata, a published message's publisher and
// sequence number. A v1 peer skips it.
type Header = msglib.MsgHeader

// EncodeWithHeader wraps m in an envelope that carries h. An empty or nil
// h gives exactly the v1 envelope Encode gives.
func (c Codec) EncodeWithHeader(m proto.Message, h *Header) ([]byte, error) {
	var hdr []byte
	if h != nil {
		var err error
		if hdr, err = proto.Marshal(h); err != nil {
			return nil, fmt.Errorf("encode header: %w", err)
		}
	}
	return c.appendEncode(nil, m, hdr)
}

// appendEncode appends m's envelope, with the serialized header hdr as
// field 3 when there is one. The header comes last, so that the type
// prefix subscribers filter on is the same as in v1.
func (c Codec) appendEncode(dst []byte, m proto.Message, hdr []byte) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("encode: %w: nil message", ErrNoPayload)
	}
	p := prefixOf(m.ProtoReflect().Descriptor())
	size := proto.Size(m)
	anyLen := len(p.url)
	if size > 0 {
		anyLen += 1 + protowire.SizeVarint(uint64(size)) + size
	}
	total := len(p.name) + 1 + protowire.SizeVarint(uint64(anyLen)) + anyLen
	if len(hdr) > 0 {
		total += 1 + protowire.SizeVarint(uint64(len(hdr))) + len(hdr)
	}
	b := slices.Grow(dst, total)
	b = append(b, p.name...)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = append(b, p.url...)
	if size > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, m); err != nil {
			return nil, fmt.Errorf("encode %s: %w", p.desc.FullName(), err)
		}
	}
	if len(hdr) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(hdr)))
		b = append(b, hdr...)
	}
	return b, nil
}

// typePrefix holds the two pieces of an envelope that depend only on the
// message's type, serialized once: field 1 (msgName) and the Any's field
// 1 (its type URL). An envelope is then two copies and two lengths
// around the message's own bytes.
type typePrefix struct {
	desc protoreflect.MessageDescriptor
	name []byte // tag 1, length, full name
	url  []byte // tag 1, length, TypeURLPrefix + full name
}

// lastPrefix is the type encoded last: an endpoint mostly sends one type
// after another, and a descriptor compare finds it with no lookup.
// prefixes holds every type's.
var (
	lastPrefix atomic.Pointer[typePrefix]
	prefixes   nameCache[*typePrefix]
)

func prefixOf(d protoreflect.MessageDescriptor) *typePrefix {
	if p := lastPrefix.Load(); p != nil && p.desc == d {
		return p
	}
	name := string(d.FullName())
	p, ok := prefixes.get(name) // the pieces depend on the name alone
	if !ok {
		p = &typePrefix{desc: d, name: appendString(nil, 1, name),
			url: appendString(nil, 1, TypeURLPrefix+name)}
		prefixes.add(name, p)
	}
	lastPrefix.Store(p)
	return p
}

// nameCache maps type names to what is worth keeping about them. It is
// copied on write (types are few and learned once), so that a lookup
// takes no lock, and it stops growing at 4096 names, so that a peer
// inventing names cannot grow it forever (those are served, not kept).
type nameCache[V any] struct {
	m  atomic.Pointer[map[string]V]
	mu sync.Mutex
}

func (c *nameCache[V]) get(name string) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[name]
		return v, ok
	}
	var zero V
	return zero, false
}

// getBytes is get for a name still in a message's bytes: looking a map
// up with string(bytes) does not allocate.
func (c *nameCache[V]) getBytes(name []byte) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[string(name)]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *nameCache[V]) add(name string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	next := make(map[string]V, 1)
	if old != nil {
		if len(*old) >= 4096 {
			return
		}
		maps.Copy(next, *old)
	}
	next[name] = v
	c.m.Store(&next)
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode unwraps an envelope and returns the message it carries. The type
// is looked up by msgName, then by the Any's type URL (a peer may name a
// packaged message by its short name). Every failure wraps one of
// ErrNotEnvelope, ErrNoPayload, ErrUnknownType or ErrCorrupt.
func (c Codec) Decode(b []byte) (proto.Message, error) {
	m, _, err := c.decode(b)
	return m, err
}

// DecodeWithHeader is Decode that also returns the envelope's header (nil
// for a v1 envelope). A header that does not parse is an error wrapping
// ErrNotEnvelope.
func (c Codec) DecodeWithHeader(b []byte) (proto.Message, *Header, error) {
	m, hdr, err := c.decode(b)
	if err != nil {
		return nil, nil, err
	}
	h, err := parseHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	return m, h, nil
}

// DecodeHeader returns the header of an envelope without decoding its
// message (nil for a v1 envelope): what a broker needs to see a
// request's deadline.
func DecodeHeader(b []byte) (*Header, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, err
	}
	return parseHeader(e.header)
}

// ReplaceHeader returns the envelope with h as its header instead of the
// one it had (none with an empty or nil h), its message untouched: for a
// hop that forwards envelopes without decoding their messages, such as a
// broker that puts itself in a request's trace.
func ReplaceHeader(envelope []byte, h *Header) ([]byte, error) {
	if _, err := parseEnvelope(envelope); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(envelope)+64)
	for b := envelope; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if n < 0 || m < 0 {
			return nil, fmt.Errorf("decode: %w", ErrNotEnvelope)
		}
		if num != 3 {
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
			out = protowire.AppendTag(out, 3, protowire.BytesType)
			out = protowire.AppendBytes(out, hdr)
		}
	}
	return out, nil
}

func parseHeader(hdr []byte) (*Header, error) {
	if hdr == nil {
		return nil, nil
	}
	h := &Header{}
	if err := proto.Unmarshal(hdr, h); err != nil {
		return nil, fmt.Errorf("decode: %w: header: %v", ErrNotEnvelope, err)
	}
	return h, nil
}

// decode returns the message and the header's bytes (nil when none).
func (c Codec) decode(b []byte) (proto.Message, []byte, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, nil, err
	}
	name, url, value, hasAny := e.name, e.url, e.value, e.hasAny
	if !hasAny || len(url) == 0 {
		return nil, nil, fmt.Errorf("decode %q: %w", name, ErrNoPayload)
	}
	r := c.resolver()
	var m proto.Message
	if t := c.cached(name); t.mt != nil {
		m = t.new()
	} else {
		var mt protoreflect.MessageType
		if mt, err = r.FindMessageByName(protoreflect.FullName(name)); err != nil {
			if mt, err = r.FindMessageByURL(string(url)); err != nil {
				return nil, nil, fmt.Errorf("decode: %w: %q (type URL %q)", ErrUnknownType, name, url)
			}
		}
		c.remember(name, mt)
		m = mt.New().Interface()
	}
	// Merge: the message is new, so the Reset an unmarshal starts with
	// would clear nothing.
	opts := proto.UnmarshalOptions{Merge: true}
	if c.Resolver != nil { // nil: the global registry, the options' default
		if er, ok := r.(protoregistry.ExtensionTypeResolver); ok {
			opts.Resolver = er // extensions inside the message resolve too
		}
	}
	if err := opts.Unmarshal(value, m); err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w: %v", name, ErrCorrupt, err)
	}
	return m, e.header, nil
}

// TypeName returns the msgName of an envelope without decoding the
// message: what a router needs to dispatch.
func TypeName(b []byte) (string, error) {
	e, err := parseEnvelope(b)
	return string(e.name), err
}

// globalCache maps names seen in envelopes to their types in
// protoregistry.GlobalTypes: its lookup takes the name's bytes, where the
// registry's needs a string made first.
var globalCache nameCache[cachedType]

// cachedType is a message type and, for a generated one, its Go struct
// type: reflect.New of that makes a new message without the detour
// through protoreflect that MessageType.New takes (a fifth of a
// decode's time).
type cachedType struct {
	mt     protoreflect.MessageType
	goType reflect.Type // nil when the type has no Go struct (dynamicpb)
}

func (t cachedType) new() proto.Message {
	if t.goType != nil {
		if m, ok := reflect.New(t.goType).Interface().(proto.Message); ok {
			return m
		}
	}
	return t.mt.New().Interface()
}

func (c Codec) cached(name []byte) cachedType {
	if c.Resolver != nil && c.Resolver != protoregistry.GlobalTypes {
		return cachedType{} // a custom resolver may change: ask it every time
	}
	t, _ := globalCache.getBytes(name)
	return t
}

// zeroStruct returns the Go struct type whose new, zero value is an empty
// message of mt (a generated message: a pointer to its struct), or nil.
// A dynamicpb type registered globally is a pointer to a struct too, but
// a zero dynamicpb.Message has no type: it fails the descriptor check
// (or panics in it, which counts as failing).
func zeroStruct(mt protoreflect.MessageType) (goType reflect.Type) {
	defer func() {
		if recover() != nil {
			goType = nil
		}
	}()
	zt := reflect.TypeOf(mt.Zero().Interface())
	if zt == nil || zt.Kind() != reflect.Pointer || zt.Elem().Kind() != reflect.Struct {
		return nil
	}
	m, ok := reflect.New(zt.Elem()).Interface().(proto.Message)
	if !ok || m.ProtoReflect().Descriptor() != mt.Descriptor() {
		return nil
	}
	return zt.Elem()
}

func (c Codec) remember(name []byte, mt protoreflect.MessageType) {
	if c.Resolver != nil && c.Resolver != protoregistry.GlobalTypes {
		return
	}
	globalCache.add(string(name), cachedType{mt: mt, goType: zeroStruct(mt)})
}

// envelope is a parsed envelope's fields, pointing into its bytes.
type envelope struct {
	name, url, value []byte
	header           []byte // field 3, nil when absent
	hasAny           bool
}

// parseEnvelope reads the envelope's fields without copying. Unknown
// fields are skipped, as Protobuf requires.
func parseEnvelope(b []byte) (e envelope, err error) {
	if len(b) == 0 {
		return e, fmt.Errorf("decode: %w: empty frame", ErrNotEnvelope)
	}
	var anyBytes []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return e, fmt.Errorf("decode: %w: %v", ErrNotEnvelope, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && num >= 1 && num <= 3 {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, fmt.Errorf("decode: %w: field %d: %v", ErrNotEnvelope, num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case 1:
				e.name = v
			case 2:
				anyBytes, e.hasAny = v, true
			case 3:
				if e.header == nil {
					e.header = v[:len(v):len(v)]
				} else { // a repeated message field merges: rare, so a copy is fine
					e.header = append(e.header[:len(e.header):len(e.header)], v...)
				}
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return e, fmt.Errorf("decode: %w: %v", ErrNotEnvelope, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if len(e.name) == 0 && !e.hasAny {
		return e, fmt.Errorf("decode: %w: no envelope fields", ErrNotEnvelope)
	}
	for len(anyBytes) > 0 {
		num, typ, n := protowire.ConsumeTag(anyBytes)
		if n < 0 {
			return e, fmt.Errorf("decode %q: %w: Any: %v", e.name, ErrNotEnvelope, protowire.ParseError(n))
		}
		anyBytes = anyBytes[n:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n := protowire.ConsumeFieldValue(num, typ, anyBytes)
			if n < 0 {
				return e, fmt.Errorf("decode %q: %w: Any: %v", e.name, ErrNotEnvelope, protowire.ParseError(n))
			}
			anyBytes = anyBytes[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(anyBytes)
		if n < 0 {
			return e, fmt.Errorf("decode %q: %w: Any: %v", e.name, ErrNotEnvelope, protowire.ParseError(n))
		}
		if num == 1 {
			e.url = v
		} else {
			e.value = v
		}
		anyBytes = anyBytes[n:]
	}
	if len(e.name) == 0 {
		e.name = e.url[bytes.LastIndexByte(e.url, '/')+1:]
	}
	return e, nil
}

// Topic returns the subscription prefix that selects exactly the
// messages of m's type: 0x0A, varint(len(name)), name. The length keeps
// "Msg01" from matching "Msg012", for names of any length.
func Topic(m proto.Message) string { return TopicForName(m.ProtoReflect().Descriptor().FullName()) }

// TopicForName is Topic for a full name.
func TopicForName(name protoreflect.FullName) string {
	return string(appendString(nil, 1, string(name)))
}

// TopicOf is Topic for a message type given as a type parameter:
// TopicOf[*pb.Order]().
func TopicOf[T proto.Message]() string {
	var zero T
	return Topic(zero)
}
