package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
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

// FindMessageByName implements protoregistry.MessageTypeResolver (messaging.WithResolver).
func (t *types) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if t.dynamic != nil {
		if mt, err := t.dynamic.FindMessageByName(n); err == nil {
			return mt, nil
		}
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

// FindMessageByURL implements protoregistry.MessageTypeResolver (messaging.WithResolver).
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
		return nil, usageError{fmt.Sprintf("unknown message type %q%s (dividere types lists the known ones; others need -descriptors)", name, suggest(name, t.names()))}
	}
	m := mt.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: t}).Unmarshal([]byte(text), m); err != nil {
		return nil, usageError{fmt.Sprintf("invalid JSON for %s: %v", name, err)}
	}
	return m, nil
}

// global adds the descriptor set's types to the process's registry, where
// they are not there already, for what decodes by that registry.
func (t *types) global() {
	if t.dynamic == nil {
		return
	}
	t.dynamic.RangeMessages(func(mt protoreflect.MessageType) bool {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(mt.Descriptor().FullName()); err != nil {
			protoregistry.GlobalTypes.RegisterMessage(mt)
		}
		return true
	})
}

// names returns the full names of every message type known: compiled in
// and from the descriptor set.
func (t *types) names() []string {
	seen := map[string]bool{}
	add := func(mt protoreflect.MessageType) bool {
		if !internal(mt.Descriptor()) {
			seen[string(mt.Descriptor().FullName())] = true
		}
		return true
	}
	protoregistry.GlobalTypes.RangeMessages(add)
	if t.dynamic != nil {
		t.dynamic.RangeMessages(add)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// internal reports whether a type is one the program links for itself
// (protobuf's descriptors, etcd's and gRPC's), not one a user sends.
func internal(md protoreflect.MessageDescriptor) bool {
	if p := md.ParentFile().Path(); p == "google/protobuf/descriptor.proto" || strings.HasPrefix(p, "google/protobuf/compiler/") {
		return true
	}
	name := string(md.FullName())
	for _, p := range []string{"etcdserverpb.", "mvccpb.", "authpb.", "raftpb.", "membershippb.", "versionpb.", "walpb.", "snappb.",
		"leasepb.", "v3electionpb.", "v3lockpb.", "gogoproto.", "grpc.", "pb.", "google.api.", "google.rpc.", "io.etcd."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// toJSON renders m as one line of JSON: {"type": ..., "msg": {...}}.
func (t *types) toJSON(m proto.Message) string {
	return fmt.Sprintf(`{"type":%q,"msg":%s}`, m.ProtoReflect().Descriptor().FullName(), t.bodyJSON(m))
}

// envelopeJSON reads {"type": T, "msg": {...}}, as toJSON writes it.
func (t *types) envelopeJSON(text string) (proto.Message, bool) {
	var env struct {
		Type string          `json:"type"`
		Msg  json.RawMessage `json:"msg"`
	}
	if err := json.Unmarshal([]byte(text), &env); err != nil || env.Type == "" || env.Msg == nil {
		return nil, false
	}
	m, err := t.fromJSON(env.Type, string(env.Msg))
	return m, err == nil
}

// bodyJSON renders m's fields as one line of JSON.
func (t *types) bodyJSON(m proto.Message) []byte {
	body, err := protojson.MarshalOptions{Resolver: t, EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		body = []byte(fmt.Sprintf("%q", err.Error()))
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	return compact(body)
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
