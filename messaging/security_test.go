package messaging_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
)

// Encrypted publish/subscribe and dealer/router at the messaging layer.
func TestCurveMessaging(t *testing.T) {
	server, _ := connection.NewKeyPair()
	client, _ := connection.NewKeyPair()
	auth, err := connection.StartAuthenticator(quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	auth.SetKeys(client.Public)
	srv := messaging.WithConnectionOptions(connection.WithCurveServer(server))
	cli := messaging.WithConnectionOptions(connection.WithCurveClient(server.Public, client))
	ctx := tctx(t, 10*time.Second)

	pub := ok(messaging.NewPublisher("tcp://*:0", srv))(t)
	sub := ok(messaging.NewSubscriber(pub.Endpoint(), cli, messaging.WithTypes(&testpb.StringMsg{})))(t)
	router := ok(messaging.NewRouter("tcp://*:0", srv))(t)
	dealer := ok(messaging.NewDealer(router.Endpoint(), cli))(t)
	closeAll(t, pub, sub, router, dealer)

	if err := pub.WaitSubscribers(ctx, &testpb.StringMsg{}, 1); err != nil {
		t.Fatal(err)
	}
	pub.Send(ctx, &testpb.StringMsg{Value: "sealed news"})
	if m, err := sub.Recv(ctx); err != nil || !proto.Equal(m, &testpb.StringMsg{Value: "sealed news"}) {
		t.Fatalf("sub: %v %v", m, err)
	}
	dealer.Send(ctx, nil, &testpb.Int32Msg{Value: 7})
	m, route, err := router.Recv(ctx)
	if err != nil || !proto.Equal(m, &testpb.Int32Msg{Value: 7}) {
		t.Fatalf("router: %v %v", m, err)
	}
	router.Send(ctx, route, &testpb.Int32Msg{Value: 8})
	if m, _, err := dealer.Recv(ctx); err != nil || !proto.Equal(m, &testpb.Int32Msg{Value: 8}) {
		t.Fatalf("dealer: %v %v", m, err)
	}
}
