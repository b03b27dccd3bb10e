package msglib_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/dividere-go/dividere/msglib"
)

// The full names are the wire contract: peers look types up by them.
func TestWireNames(t *testing.T) {
	for _, name := range []protoreflect.FullName{
		"msgEnvelope", "RegisterService", "UnregisterService", "ack",
		"RediscoverReq", "ServiceLookupReq", "ServiceLookupRep", "ShutdownEvent", "Heartbeat",
	} {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := (&msglib.MsgEnvelope{}).ProtoReflect().Descriptor().FullName(); got != "msgEnvelope" {
		t.Fatalf("envelope name %q", got)
	}
}
