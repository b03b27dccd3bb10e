package main

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	_ "github.com/dividere-go/dividere/internal/testpb" // demo and test types, so `call` and `sub` know them
)

// types resolves message types: those described in a descriptor set file
// first, then those compiled into the binary.
type types struct {
	dynamic *protoregistry.Types
}

// loadTypes reads a descriptor set (protoc --descriptor_set_out
// --include_imports) when file is not "".
func loadTypes(file string) (*types, error) {
	t := &types{}
	if file == "" {
		return t, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usageError{fmt.Sprintf("descriptors: %v", err)}
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, usageError{fmt.Sprintf("descriptors %s: not a descriptor set: %v", file, err)}
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, usageError{fmt.Sprintf("descriptors %s: %v (was it made with --include_imports?)", file, err)}
	}
	t.dynamic = new(protoregistry.Types)
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			registerAll(t.dynamic, msgs.Get(i))
		}
		return true
	})
	return t, nil
}

func registerAll(r *protoregistry.Types, md protoreflect.MessageDescriptor) {
	if md.IsMapEntry() {
		return
	}
	r.RegisterMessage(dynamicpb.NewMessageType(md))
	nested := md.Messages()
	for i := range nested.Len() {
		registerAll(r, nested.Get(i))
	}
}

// FindMessageByName implements messaging.Resolver.
func (t *types) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if t.dynamic != nil {
		if mt, err := t.dynamic.FindMessageByName(n); err == nil {
			return mt, nil
		}
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

// FindMessageByURL implements messaging.Resolver.
func (t *types) FindMessageByURL(u string) (protoreflect.MessageType, error) {
	if t.dynamic != nil {
		if mt, err := t.dynamic.FindMessageByURL(u); err == nil {
			return mt, nil
		}
	}
	return protoregistry.GlobalTypes.FindMessageByURL(u)
}

// FindExtensionByName implements protoregistry.ExtensionTypeResolver.
func (t *types) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if t.dynamic != nil {
		if et, err := t.dynamic.FindExtensionByName(n); err == nil {
			return et, nil
		}
	}
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

// FindExtensionByNumber implements protoregistry.ExtensionTypeResolver.
func (t *types) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if t.dynamic != nil {
		if et, err := t.dynamic.FindExtensionByNumber(m, n); err == nil {
			return et, nil
		}
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, n)
}

// fromJSON makes a message of type name from JSON text.
func (t *types) fromJSON(name, text string) (proto.Message, error) {
	mt, err := t.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return nil, usageError{fmt.Sprintf("unknown message type %q (compiled in: msglib and test types; others need --descriptors)", name)}
	}
	m := mt.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: t}).Unmarshal([]byte(text), m); err != nil {
		return nil, usageError{fmt.Sprintf("invalid JSON for %s: %v", name, err)}
	}
	return m, nil
}

// toJSON renders m as one line of JSON: {"type": ..., "msg": {...}}.
func (t *types) toJSON(m proto.Message) string {
	body, err := protojson.MarshalOptions{Resolver: t, EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		body = []byte(fmt.Sprintf("%q", err.Error()))
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	return fmt.Sprintf(`{"type":%q,"msg":%s}`, m.ProtoReflect().Descriptor().FullName(), compact(body))
}

// compact removes the spaces protojson may put in, to keep one line.
func compact(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\n' || c == '\t'):
			continue
		}
		out = append(out, c)
	}
	return out
}

// protoMessage is proto.Message, for brevity in the commands.
type protoMessage = proto.Message
