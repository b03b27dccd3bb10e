package connection_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// A publisher and a subscriber, with no sleep for the late joiner: the
// publisher waits until the subscription has reached it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pub, err := connection.NewPublisher("tcp://*:0") // wildcard host: binds
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := connection.NewSubscriber(pub.Endpoint(), connection.WithTopics("weather."))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	if err := pub.WaitSubscribers(ctx, "weather.", 1); err != nil {
		panic(err)
	}
	pub.Send(ctx, []byte("sports.tennis 6-4"))
	pub.Send(ctx, []byte("weather.paris rain"))

	msg, err := sub.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", msg.Payload())
	// Output: weather.paris rain
}

func ExampleRequest() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	rep, err := connection.NewResponse("tcp://*:0")
	if err != nil {
		panic(err)
	}
	defer rep.Close()
	go func() {
		for {
			req, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			rep.Send(ctx, append([]byte("hello, "), req.Payload()...))
		}
	}()

	req, err := connection.NewRequest(rep.Endpoint())
	if err != nil {
		panic(err)
	}
	defer req.Close()
	reply, err := req.Call(ctx, []byte("world"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", reply.Payload())
	// Output: hello, world
}

// Clients and workers meet at a Proxy; a worker answers along the route
// the request came by, so the reply reaches the client that asked.
func ExampleProxy() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	proxy, err := connection.NewProxy("tcp://*:0", "tcp://*:0")
	if err != nil {
		panic(err)
	}
	go proxy.Serve(ctx)
	defer proxy.Close()

	worker, err := connection.NewDealer(proxy.Backend.Endpoint())
	if err != nil {
		panic(err)
	}
	defer worker.Close()
	go func() {
		for {
			m, err := worker.Recv(ctx) // [client identity, payload]
			if err != nil {
				return
			}
			worker.Send(ctx, m.Reply([]byte(fmt.Sprintf("%d bytes", len(m.Payload()))))...)
		}
	}()

	client, err := connection.NewDealer(proxy.Frontend.Endpoint())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	client.Send(ctx, []byte("measure me"))
	reply, err := client.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", reply.Payload())
	// Output: 10 bytes
}

func ExampleSocket_WaitPeers() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	events := make(chan connection.Event, 16)
	router, err := connection.NewRouter("tcp://*:0", connection.WithEvents(events))
	if err != nil {
		panic(err)
	}
	defer router.Close()
	dealer, err := connection.NewDealer(router.Endpoint())
	if err != nil {
		panic(err)
	}
	defer dealer.Close()

	if err := router.WaitPeers(ctx, 1); err != nil {
		panic(err)
	}
	for ev := range events {
		if ev.Kind == connection.EventHandshakeSucceeded {
			fmt.Println(ev.Kind)
			break
		}
	}
	// Output: handshake-succeeded
}
