package messaging_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
)

// A subscriber that takes one message type out of several published.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pub, err := messaging.NewPublisher("tcp://*:0")
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(&testpb.Msg01{}))
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, &testpb.Msg01{}, 1); err != nil {
		panic(err)
	}

	pub.Send(ctx, &testpb.Msg012{N: 12}) // a longer name with the same start: not received
	pub.Send(ctx, &testpb.Msg01{N: 1})

	m, err := messaging.RecvAs[*testpb.Msg01](ctx, sub)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.N)
	// Output: 1
}

// The original guide's msgReactor: one reactor answers requests and
// handles published events.
func ExampleReactor() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	rep, err := messaging.NewResponse("tcp://*:0")
	if err != nil {
		panic(err)
	}
	defer rep.Close()

	r := messaging.NewReactor([]messaging.Endpoint{rep})
	messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: "hello, " + m.Value}, nil
	})
	go r.Serve(ctx)
	defer r.Shutdown(ctx)

	req, err := messaging.NewRequest(rep.Endpoint())
	if err != nil {
		panic(err)
	}
	defer req.Close()
	reply, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "reactor"})
	if err != nil {
		panic(err)
	}
	fmt.Println(reply.Value)
	// Output: hello, reactor
}

func ExampleEncode() {
	b, err := messaging.Encode(&testpb.Int32Msg{Value: 7}, nil)
	if err != nil {
		panic(err)
	}
	m, _, err := messaging.Decode(b, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: % x...\n", m.ProtoReflect().Descriptor().FullName(), b[:10])
	// Output: Int32Msg: 0a 08 49 6e 74 33 32 4d 73 67...
}

// A handler's error reaches the caller with its code, and a caller's
// metadata reaches the handler.
func ExampleErrorf() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	rep, err := messaging.NewResponse("tcp://*:0")
	if err != nil {
		panic(err)
	}
	defer rep.Close()
	r := messaging.NewReactor([]messaging.Endpoint{rep})
	messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		user := messaging.IncomingHeader(ctx).GetMetadata()["user"]
		if user != "ann" {
			return nil, messaging.Errorf(messaging.PermissionDenied, "%q may not ask for %s", user, m.Value)
		}
		return &testpb.StringMsg{Value: m.Value + " for " + user}, nil
	})
	go r.Serve(ctx)
	defer r.Shutdown(ctx)

	req, err := messaging.NewRequest(rep.Endpoint())
	if err != nil {
		panic(err)
	}
	defer req.Close()
	for _, user := range []string{"ann", "bob"} {
		reply, err := messaging.Call[*testpb.StringMsg](messaging.AppendMetadata(ctx, "user", user), req, &testpb.StringMsg{Value: "the report"})
		if messaging.CodeOf(err) == messaging.PermissionDenied {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(reply.GetValue())
	}
	// Output:
	// the report for ann
	// refused: PERMISSION_DENIED: "bob" may not ask for the report
}

// A subscriber counts what it lost on the way from each publisher.
func ExampleSubscriber_LostByPublisher() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pub, err := messaging.NewPublisher("tcp://*:0")
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := messaging.NewSubscriber(pub.Endpoint())
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, &testpb.Int64Msg{}, 1); err != nil {
		panic(err)
	}
	for i := range 3 {
		pub.Send(ctx, &testpb.Int64Msg{Value: int64(i)})
	}
	for range 3 {
		if _, err := sub.Recv(ctx); err != nil {
			panic(err)
		}
	}
	fmt.Println("lost:", sub.MessageStats().Lost, len(sub.LostByPublisher()))
	// Output: lost: 0 0
}

// Socket options go through to the socket underneath: those every kind
// takes by WithConnectionOptions, a Publisher's own by its bridge.
func ExampleWithPublisherConnOptions() {
	pub, err := messaging.NewPublisher("tcp://127.0.0.1:0",
		messaging.WithConnectionOptions(connection.WithSendHWM(1000)),
		messaging.WithPublisherConnOptions(connection.WithSlowSubscriberWait(connection.Lossless)),
		messaging.WithoutSequence())
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	fmt.Println(pub.ID() == "", pub.Stats().SendWaits)
	// Output: true 0
}
