package messaging_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// scalarSamples has one message per scalar type, with values that
// exercise the encoding's edges.
func scalarSamples() []proto.Message {
	return []proto.Message{
		&testpb.DoubleMsg{Value: math.Pi},
		&testpb.DoubleMsg{Value: -math.MaxFloat64},
		&testpb.FloatMsg{Value: -1.5e-7},
		&testpb.Int32Msg{Value: math.MinInt32},
		&testpb.Int64Msg{Value: math.MaxInt64},
		&testpb.Uint32Msg{Value: math.MaxUint32},
		&testpb.Uint64Msg{Value: math.MaxUint64},
		&testpb.Sint32Msg{Value: -123456},
		&testpb.Sint64Msg{Value: math.MinInt64},
		&testpb.Fixed32Msg{Value: 0xdeadbeef},
		&testpb.Fixed64Msg{Value: 0xfeedfacecafebeef},
		&testpb.Sfixed32Msg{Value: -42},
		&testpb.Sfixed64Msg{Value: -1 << 60},
		&testpb.BoolMsg{Value: true},
		&testpb.StringMsg{Value: "héllo, wörld ✓"},
		&testpb.BytesMsg{Value: []byte{0, 1, 2, 0xff, 0}},
		&testpb.Int32Msg{}, // all defaults: an empty message body
		nested(),
	}
}

func nested() *testpb.Outer {
	return &testpb.Outer{
		Label:  "outer",
		Middle: &testpb.Middle{Weight: 2.5, Inner: &testpb.Inner{Name: "inner", Values: []int32{1, -2, 3}}},
		Items: []*testpb.Middle{
			{Weight: 1, Inner: &testpb.Inner{Name: "a"}},
			{Weight: 2, Inner: &testpb.Inner{Name: "b", Values: []int32{math.MaxInt32}}},
		},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, m := range scalarSamples() {
		b, err := messaging.Encode(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The first decode of a type looks it up in the registry, the
		// next ones make the message from the type remembered: both give
		// a message of m's own Go type, equal to m, and never the same one.
		var prev proto.Message
		for range 3 {
			got, _, err := messaging.Decode(b, nil)
			if err != nil {
				t.Fatalf("%T: %v", m, err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(m) || !proto.Equal(got, m) {
				t.Fatalf("round trip: got %T %v, want %T %v", got, got, m, m)
			}
			if got == prev {
				t.Fatalf("%T: two decodes gave the same message", m)
			}
			prev = got
		}
	}
}

// The envelope is byte for byte what the Protobuf library makes of a
// msgEnvelope holding an Any, which is what the Python original sends.
func TestEncodeMatchesStandardEnvelope(t *testing.T) {
	for _, m := range append(scalarSamples(), &msglib.RediscoverReq{}, &testpb.Packaged{Text: "x"}) {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		std, err := proto.MarshalOptions{Deterministic: true}.Marshal(&msglib.MsgEnvelope{
			MsgName: string(m.ProtoReflect().Descriptor().FullName()), Msg: a})
		if err != nil {
			t.Fatal(err)
		}
		ours, err := messaging.Encode(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, std) {
			t.Fatalf("%T:\nours %x\nstd  %x", m, ours, std)
		}
		if !strings.HasPrefix(string(ours), messaging.Topic(m)) {
			t.Fatalf("%T: envelope does not start with its topic", m)
		}
	}
}

func TestTopicIsExact(t *testing.T) {
	a := messaging.Topic(&testpb.Msg01{})
	b := messaging.Topic(&testpb.Msg012{})
	if a != "\x0a\x05Msg01" || strings.HasPrefix(b, a) {
		t.Fatalf("Msg01 topic %q is a prefix of Msg012's %q", a, b)
	}
	long := messaging.Topic((*testpb.AMessageNameLongerThanOneHundredTwentySevenCharactersSoThatItsLengthTakesTwoBytesOfVarintInTheEnvelopePrefixXXXXXXXXXXXXXXXXXXXXXXX)(nil))
	if long[1] != 0x83 || long[2] != 0x01 { // varint(131)
		t.Fatalf("long name topic starts %x", long[:3])
	}
}

// A peer may send a packaged message under its short name; the type URL
// still finds it.
func TestDecodeShortNameFallsBackToTypeURL(t *testing.T) {
	m := &testpb.Packaged{Text: "via URL"}
	a, _ := anypb.New(m)
	b, _ := proto.Marshal(&msglib.MsgEnvelope{MsgName: "Packaged", Msg: a})
	got, _, err := messaging.Decode(b, nil)
	if err != nil || !proto.Equal(got, m) {
		t.Fatalf("got %v %v", got, err)
	}
	if n, _, _ := messaging.DecodeHeader(b); n != "Packaged" {
		t.Fatalf("DecodeHeader's name %q", n)
	}
}

func TestDecodeBadInput(t *testing.T) {
	good, _ := messaging.Encode(&testpb.StringMsg{Value: "this is a string"}, nil)
	unknownAny := &anypb.Any{TypeUrl: "type.googleapis.com/" + "NoSuchType", Value: []byte{8, 1}}
	unknown, _ := proto.Marshal(&msglib.MsgEnvelope{MsgName: "NoSuchType", Msg: unknownAny})
	corruptAny := &anypb.Any{TypeUrl: "type.googleapis.com/" + "StringMsg", Value: []byte{0x0a, 0x7f, 'x'}}
	corrupt, _ := proto.Marshal(&msglib.MsgEnvelope{MsgName: "StringMsg", Msg: corruptAny})
	noAny, _ := proto.Marshal(&msglib.MsgEnvelope{MsgName: "StringMsg"})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty frame", nil, messaging.ErrUndecodable},
		{"garbage", []byte("\xff\xff\xff\xff garbage"), messaging.ErrUndecodable},
		{"truncated", good[:len(good)-3], messaging.ErrUndecodable},
		{"plain text", []byte("hello"), messaging.ErrUndecodable},
		{"unknown type", unknown, messaging.ErrUndecodable},
		{"corrupt body", corrupt, messaging.ErrUndecodable},
		{"no Any", noAny, messaging.ErrUndecodable},
	} {
		_, _, err := messaging.Decode(tc.in, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range scalarSamples() {
		b, _ := messaging.Encode(m, nil)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := messaging.Decode(b, nil)
		if err != nil {
			for _, sentinel := range []error{messaging.ErrUndecodable, messaging.ErrUndecodable, messaging.ErrUndecodable, messaging.ErrUndecodable} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("untyped error %v", err)
		}
		// Whatever decodes must survive a round trip.
		again, err := messaging.Encode(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		m2, _, err := messaging.Decode(again, nil)
		if err != nil || !proto.Equal(m, m2) {
			t.Fatalf("re-encode round trip: %v", err)
		}
	})
}

// A dynamic type (dynamicpb, as the command makes from a .proto file it
// was given) registered in the global registry decodes as itself, the
// first time and the times after, when the decoder makes its messages
// from the types it remembers.
func TestDecodeGlobalDynamicType(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("dvtest/dyn.proto"),
		Package: proto.String("dvtest"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Dyn"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("text"), Number: proto.Int32(1), JsonName: proto.String("text"),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Messages().Get(0)
	if err := protoregistry.GlobalTypes.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().Get(0), protoreflect.ValueOfString("hello"))
	b, err := messaging.Encode(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got, _, err := messaging.Decode(b, nil)
		if err != nil {
			t.Fatalf("decode %d: %v", i, err)
		}
		if got.ProtoReflect().Descriptor().FullName() != "dvtest.Dyn" || !proto.Equal(got, m) {
			t.Fatalf("decode %d: got %T %v, want %v", i, got, got, m)
		}
	}
}
