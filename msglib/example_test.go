package msglib_test

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/dividere-go/dividere/msglib"
)

// The envelope by hand, as any Protobuf library builds it; the messaging
// package does this (faster) for you.
func Example() {
	lookup := &msglib.ServiceLookupReq{ServiceName: "orders"}
	body, _ := anypb.New(lookup)
	env := &msglib.MsgEnvelope{MsgName: string(lookup.ProtoReflect().Descriptor().FullName()), Msg: body}
	b, _ := proto.Marshal(env)
	fmt.Printf("%s, type URL %s, %d bytes\n", env.MsgName, env.Msg.TypeUrl, len(b))
	// Output: ServiceLookupReq, type URL type.googleapis.com/ServiceLookupReq, 68 bytes
}
