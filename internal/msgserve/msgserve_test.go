package msgserve_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/msgserve"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
)

// ReplaceHeader swaps an envelope's header and leaves its message alone;
// with no header, the envelope is v1 again.
func TestReplaceHeader(t *testing.T) {
	b, err := messaging.Encode(&testpb.StringMsg{Value: "kept"}, &messaging.Header{Traceparent: "old", TimeoutUs: 5})
	if err != nil {
		t.Fatal(err)
	}
	out, err := msgserve.ReplaceHeader(b, &messaging.Header{Traceparent: "new", TimeoutUs: 5})
	if err != nil {
		t.Fatal(err)
	}
	m, h, err := messaging.Decode(out, nil)
	if err != nil || m.(*testpb.StringMsg).Value != "kept" || h.GetTraceparent() != "new" || h.GetTimeoutUs() != 5 {
		t.Fatalf("replaced: %v %v %v", m, h, err)
	}
	v1, _ := messaging.Encode(&testpb.StringMsg{Value: "kept"}, nil)
	if out, err := msgserve.ReplaceHeader(b, nil); err != nil || string(out) != string(v1) {
		t.Fatalf("no header: %x %v, want %x", out, err, v1)
	}
	for _, bad := range []string{"garbage", "\x0a\x05ab"} {
		if _, err := msgserve.ReplaceHeader([]byte(bad), nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
