// Package service is the base of a dividere service (layer 3): it takes a
// port the OS picks, registers with the name service (package registry)
// under its name — by default its implementation's qualified Go type
// name — and serves typed requests through the same handlers as a
// messaging.Reactor.
//
//	svc, err := service.New(&Orders{}, service.WithVersion("1.2.0"))
//	messaging.Handle(svc, func(ctx context.Context, m *pb.PlaceOrder, _ messaging.Peer) (*pb.OrderPlaced, error) {
//		return &pb.OrderPlaced{Id: m.Id}, nil
//	})
//	err = svc.Serve(ctx) // registers, renews, re-registers, serves; stops gracefully when ctx ends
//
// A registration lives for a TTL (5 s, WithTTL) and is renewed every third
// of it, so a service that dies vanishes from lookups; when the name
// service restarts it asks every service to register again
// (RediscoverReq), and a service that cannot reach it keeps trying. A
// service answers ServiceInfoReq with its name, version, metadata and
// counters (requests, errors, processing time), like NATS micro's
// PING/INFO/STATS.
package service
