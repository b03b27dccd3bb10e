// Package messaging is dividere's second layer: the connection layer's
// endpoints carrying Protobuf messages in the self-describing envelope of
// docs/protocol.md, and a Reactor that dispatches each message to the handler for
// its type.
//
// Every message travels as a msgEnvelope{msgName, Any, header}. Encode and Decode
// work on their own; the endpoints (Publisher, Subscriber, Request,
// Response, Dealer, Router) use them for you, and they are byte for byte
// what other-language peers send, so Go and the Python original
// interoperate. A Subscriber subscribes by type: the envelope's first
// bytes (0x0A, varint length, name) are an exact topic, for names of any
// length (Topic).
//
// Decoding looks a type up by name in protoregistry.GlobalTypes (or a
// resolver of your own, WithResolver, for dynamic types), falling back to the Any's type
// URL. A message that cannot be decoded is an error for that message
// only, wrapping ErrUndecodable; the endpoint counts it by reason
// (MessageStats), logs it, and goes on.
// A Response answers an undecodable request with ack{ok: false} so that
// neither side is left waiting.
//
// The envelope's v2 header carries what travels beside a message: a
// request's deadline (the caller's context's), metadata (AppendMetadata,
// IncomingHeader), trace context (the WithOutgoing hook and
// WithMiddleware), and a publisher's sequence numbers, from which a
// Subscriber counts what it lost (Stats.Lost). A failed request is
// answered with a code (google.rpc.Code numbering) and a message, and
// the caller gets an *Error (CodeOf). A v1 peer ignores all of it.
//
// Options are scoped at compile time: each constructor takes its own
// kind's option interface (PublisherOption, SubscriberOption, …,
// ReactorOption), each option returns the narrowest one it applies to,
// and Option (WithLogger) applies everywhere, so that a misplaced option
// is a type error. WithConnectionOptions passes the socket options of
// every kind on; a kind's own go by its bridge (WithPublisherConnOptions,
// WithRouterConnOptions, …). Endpoints are connection.Waitable:
// connection.WaitAny waits on several.
//
// Handlers are registered per type with generics, with no reflection on
// names:
//
//	r := messaging.NewReactor([]messaging.Endpoint{rep, sub})
//	messaging.Handle(r, func(ctx context.Context, m *pb.Order, _ messaging.Peer) (*pb.OrderAck, error) {
//		return &pb.OrderAck{Id: m.Id}, nil // the reply; an error would travel as a refusal with a code
//	})
//	err := r.Serve(ctx)
//
// A handler that fails or panics is logged and counted; the reactor keeps
// serving. WithWorkers spreads handlers over goroutines to use every core.
// The Reactor serves as every dividere server does: Serve, Shutdown
// (graceful), Close.
package messaging
