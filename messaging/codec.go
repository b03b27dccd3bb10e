package messaging

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
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

// Codec encodes messages into WIRE.md envelopes and decodes them back.
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
	if m == nil {
		return nil, fmt.Errorf("encode: %w: nil message", ErrNoPayload)
	}
	name := string(m.ProtoReflect().Descriptor().FullName())
	size := proto.Size(m)
	urlLen := len(TypeURLPrefix) + len(name)
	anyLen := 1 + protowire.SizeVarint(uint64(urlLen)) + urlLen
	if size > 0 {
		anyLen += 1 + protowire.SizeVarint(uint64(size)) + size
	}
	total := 1 + protowire.SizeVarint(uint64(len(name))) + len(name) +
		1 + protowire.SizeVarint(uint64(anyLen)) + anyLen
	b := slices.Grow(dst, total)
	b = appendString(b, 1, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(urlLen))
	b = append(b, TypeURLPrefix...)
	b = append(b, name...)
	if size > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, m); err != nil {
			return nil, fmt.Errorf("encode %s: %w", name, err)
		}
	}
	return b, nil
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
	name, url, value, hasAny, err := parseEnvelope(b)
	if err != nil {
		return nil, err
	}
	if !hasAny || len(url) == 0 {
		return nil, fmt.Errorf("decode %q: %w", name, ErrNoPayload)
	}
	r := c.resolver()
	mt := c.cached(name)
	if mt == nil {
		if mt, err = r.FindMessageByName(protoreflect.FullName(name)); err != nil {
			if mt, err = r.FindMessageByURL(string(url)); err != nil {
				return nil, fmt.Errorf("decode: %w: %q (type URL %q)", ErrUnknownType, name, url)
			}
		}
		c.remember(name, mt)
	}
	m := mt.New().Interface()
	opts := proto.UnmarshalOptions{}
	if er, ok := r.(protoregistry.ExtensionTypeResolver); ok {
		opts.Resolver = er // extensions inside the message resolve too
	}
	if err := opts.Unmarshal(value, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w: %v", name, ErrCorrupt, err)
	}
	return m, nil
}

// TypeName returns the msgName of an envelope without decoding the
// message: what a router needs to dispatch.
func TypeName(b []byte) (string, error) {
	name, _, _, _, err := parseEnvelope(b)
	return string(name), err
}

// globalCache maps names seen in envelopes to their types in
// protoregistry.GlobalTypes. Looking up a map with string(bytes) does not
// allocate, where the registry's lookup needs a string made first. It is
// copied on write: types are few and learned once.
var globalCache atomic.Pointer[map[string]protoreflect.MessageType]

func (c Codec) cached(name []byte) protoreflect.MessageType {
	if c.Resolver != nil && c.Resolver != protoregistry.GlobalTypes {
		return nil // a custom resolver may change: ask it every time
	}
	if m := globalCache.Load(); m != nil {
		return (*m)[string(name)]
	}
	return nil
}

var cacheMu sync.Mutex

func (c Codec) remember(name []byte, mt protoreflect.MessageType) {
	if c.Resolver != nil && c.Resolver != protoregistry.GlobalTypes {
		return
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	old := globalCache.Load()
	next := make(map[string]protoreflect.MessageType, 1)
	if old != nil {
		if len(*old) >= 4096 { // a peer inventing names must not grow it forever
			return
		}
		maps.Copy(next, *old)
	}
	next[string(name)] = mt
	globalCache.Store(&next)
}

// parseEnvelope reads the envelope's fields without copying. Unknown
// fields are skipped, as Protobuf requires.
func parseEnvelope(b []byte) (name, url, value []byte, hasAny bool, err error) {
	if len(b) == 0 {
		return nil, nil, nil, false, fmt.Errorf("decode: %w: empty frame", ErrNotEnvelope)
	}
	var anyBytes []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, nil, false, fmt.Errorf("decode: %w: %v", ErrNotEnvelope, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, nil, false, fmt.Errorf("decode: %w: msgName: %v", ErrNotEnvelope, protowire.ParseError(n))
			}
			name, b = v, b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, nil, false, fmt.Errorf("decode: %w: msg: %v", ErrNotEnvelope, protowire.ParseError(n))
			}
			anyBytes, hasAny, b = v, true, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, nil, nil, false, fmt.Errorf("decode: %w: %v", ErrNotEnvelope, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if len(name) == 0 && !hasAny {
		return nil, nil, nil, false, fmt.Errorf("decode: %w: no envelope fields", ErrNotEnvelope)
	}
	for len(anyBytes) > 0 {
		num, typ, n := protowire.ConsumeTag(anyBytes)
		if n < 0 {
			return nil, nil, nil, false, fmt.Errorf("decode %q: %w: Any: %v", name, ErrNotEnvelope, protowire.ParseError(n))
		}
		anyBytes = anyBytes[n:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n := protowire.ConsumeFieldValue(num, typ, anyBytes)
			if n < 0 {
				return nil, nil, nil, false, fmt.Errorf("decode %q: %w: Any: %v", name, ErrNotEnvelope, protowire.ParseError(n))
			}
			anyBytes = anyBytes[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(anyBytes)
		if n < 0 {
			return nil, nil, nil, false, fmt.Errorf("decode %q: %w: Any: %v", name, ErrNotEnvelope, protowire.ParseError(n))
		}
		if num == 1 {
			url = v
		} else {
			value = v
		}
		anyBytes = anyBytes[n:]
	}
	if len(name) == 0 {
		name = url[bytes.LastIndexByte(url, '/')+1:]
	}
	return name, url, value, hasAny, nil
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
