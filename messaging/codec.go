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

// ErrUndecodable wraps every failure to decode a message: bytes that are
// not a msgEnvelope (garbage, an empty frame, a truncated message), an
// envelope with no message in it, a type this side does not know, and
// bytes that do not parse as their type. It is an error for that one
// message: endpoints and reactors count it (Stats, by reason), log it and
// keep serving. CodeOf says Unimplemented for an unknown type and
// InvalidArgument for the others, as a refusal does.
var ErrUndecodable = errors.New("dividere: undecodable message")

// ErrWrongType is what a typed receive or call (RecvAs, Call) returns for
// a message of another type than asked.
var ErrWrongType = errors.New("dividere: unexpected message type")

// The reasons a message cannot be decoded, each counted on its own
// (Stats).
var (
	errNotEnvelope = fmt.Errorf("%w: not a message envelope", ErrUndecodable)
	errNoPayload   = fmt.Errorf("%w: envelope carries no message", ErrUndecodable)
	errUnknownType = fmt.Errorf("%w: unknown message type", ErrUndecodable)
	errCorrupt     = fmt.Errorf("%w: corrupt message", ErrUndecodable)
)

// typeURLPrefix is the prefix of an Any's type URL; the full name follows.
const typeURLPrefix = "type.googleapis.com/"

// codec encodes and decodes envelopes, looking types up in resolver
// (protoregistry.GlobalTypes when nil).
type codec struct {
	resolver protoregistry.MessageTypeResolver
}

func (c codec) types() protoregistry.MessageTypeResolver {
	if c.resolver == nil {
		return protoregistry.GlobalTypes
	}
	return c.resolver
}

// Header is the v2 envelope header (msgHeader): a request's deadline,
// trace context and metadata, a published message's publisher and
// sequence number. A v1 peer skips it.
type Header = msglib.MsgHeader

// Encode wraps m in a msgEnvelope (docs/protocol.md): msgName = m's full
// name, msg = an Any with type URL "type.googleapis.com/<full name>" and
// m's bytes, and h as the v2 header. With a nil or empty h it is the v1
// envelope, byte for byte what marshalling the envelope with any
// Protobuf library gives, built in one allocation with m serialized once.
// The endpoints encode for you; Encode is for those who send envelopes
// by other means.
func Encode(m proto.Message, h *Header) ([]byte, error) {
	var hdr []byte
	if h != nil {
		var err error
		if hdr, err = proto.Marshal(h); err != nil {
			return nil, fmt.Errorf("encode header: %w", err)
		}
	}
	return codec{}.appendEncode(nil, m, hdr)
}

// appendEncode appends m's envelope, with the serialized header hdr as
// field 3 when there is one. The header comes last, so that the type
// prefix subscribers filter on is the same as in v1.
func (c codec) appendEncode(dst []byte, m proto.Message, hdr []byte) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("encode: %w: nil message", errNoPayload)
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
	url  []byte // tag 1, length, typeURLPrefix + full name
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
			url: appendString(nil, 1, typeURLPrefix+name)}
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

// Decode unwraps an envelope and returns the message it carries and its
// header (nil for a v1 envelope). The type is looked up in r
// (protoregistry.GlobalTypes when r is nil) by msgName, then by the
// Any's type URL (a peer may name a packaged message by its short name).
// Every failure wraps ErrUndecodable.
func Decode(b []byte, r protoregistry.MessageTypeResolver) (proto.Message, *Header, error) {
	m, hdr, err := codec{resolver: r}.decode(b)
	if err != nil {
		return nil, nil, err
	}
	h, err := parseHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	return m, h, nil
}

// DecodeHeader returns the type name (msgName) and the header (nil for a
// v1 envelope) of an envelope without decoding its message: what a
// broker or a router needs to see a request's deadline or dispatch it,
// whether or not it knows the type.
func DecodeHeader(b []byte) (string, *Header, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return "", nil, err
	}
	h, err := parseHeader(e.header)
	return string(e.name), h, err
}

func parseHeader(hdr []byte) (*Header, error) {
	if hdr == nil {
		return nil, nil
	}
	h := &Header{}
	if err := proto.Unmarshal(hdr, h); err != nil {
		return nil, fmt.Errorf("decode: %w: header: %v", errNotEnvelope, err)
	}
	return h, nil
}

// decode returns the message and the header's bytes (nil when none).
func (c codec) decode(b []byte) (proto.Message, []byte, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, nil, err
	}
	name, url, value, hasAny := e.name, e.url, e.value, e.hasAny
	if !hasAny || len(url) == 0 {
		return nil, nil, fmt.Errorf("decode %q: %w", name, errNoPayload)
	}
	r := c.types()
	var m proto.Message
	if t := c.cached(name); t.mt != nil {
		m = t.new()
	} else {
		var mt protoreflect.MessageType
		if mt, err = r.FindMessageByName(protoreflect.FullName(name)); err != nil {
			if mt, err = r.FindMessageByURL(string(url)); err != nil {
				return nil, nil, fmt.Errorf("decode: %w: %q (type URL %q)", errUnknownType, name, url)
			}
		}
		c.remember(name, mt)
		m = mt.New().Interface()
	}
	// Merge: the message is new, so the Reset an unmarshal starts with
	// would clear nothing.
	opts := proto.UnmarshalOptions{Merge: true}
	if c.resolver != nil { // nil: the global registry, the options' default
		if er, ok := r.(protoregistry.ExtensionTypeResolver); ok {
			opts.Resolver = er // extensions inside the message resolve too
		}
	}
	if err := opts.Unmarshal(value, m); err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w: %v", name, errCorrupt, err)
	}
	return m, e.header, nil
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

func (c codec) cached(name []byte) cachedType {
	if c.resolver != nil && c.resolver != protoregistry.GlobalTypes {
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

func (c codec) remember(name []byte, mt protoreflect.MessageType) {
	if c.resolver != nil && c.resolver != protoregistry.GlobalTypes {
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
		return e, fmt.Errorf("decode: %w: empty frame", errNotEnvelope)
	}
	var anyBytes []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return e, fmt.Errorf("decode: %w: %v", errNotEnvelope, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && num >= 1 && num <= 3 {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, fmt.Errorf("decode: %w: field %d: %v", errNotEnvelope, num, protowire.ParseError(n))
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
			return e, fmt.Errorf("decode: %w: %v", errNotEnvelope, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if len(e.name) == 0 && !e.hasAny {
		return e, fmt.Errorf("decode: %w: no envelope fields", errNotEnvelope)
	}
	for len(anyBytes) > 0 {
		num, typ, n := protowire.ConsumeTag(anyBytes)
		if n < 0 {
			return e, fmt.Errorf("decode %q: %w: Any: %v", e.name, errNotEnvelope, protowire.ParseError(n))
		}
		anyBytes = anyBytes[n:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n := protowire.ConsumeFieldValue(num, typ, anyBytes)
			if n < 0 {
				return e, fmt.Errorf("decode %q: %w: Any: %v", e.name, errNotEnvelope, protowire.ParseError(n))
			}
			anyBytes = anyBytes[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(anyBytes)
		if n < 0 {
			return e, fmt.Errorf("decode %q: %w: Any: %v", e.name, errNotEnvelope, protowire.ParseError(n))
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
// messages of m's type (m may be a nil *T): 0x0A, varint(len(name)),
// name. The length keeps "Msg01" from matching "Msg012", for names of
// any length. A Subscriber subscribes by type for you; Topic is for the
// connection layer (Publisher.Conn().Subscribers(Topic(m))).
func Topic(m proto.Message) string {
	return string(appendString(nil, 1, string(m.ProtoReflect().Descriptor().FullName())))
}
