package registry_test

import (
	"testing"
	"time"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// A client's Notices hears the RediscoverReq the name service publishes
// to every subscriber that joins; a client of a direct store has no
// name service to hear, and gets no subscriber.
func TestClientNotices(t *testing.T) {
	_, c := newServer(t)
	sub, err := c.Notices(messaging.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := messaging.RecvAs[*msglib.RediscoverReq](tctx(t, 10*time.Second), sub); err != nil {
		t.Fatalf("no RediscoverReq on the notices: %v", err)
	}

	direct, err := registry.NewClient(registry.WithStore(registry.NewMemoryStore()), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if sub, err := direct.Notices(); sub != nil || err != nil {
		t.Fatalf("Notices of a direct store: %v, %v; want nil, nil", sub, err)
	}
}
