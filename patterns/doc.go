// Package patterns holds dividere's reliable request/reply: a
// load-balancing Broker, heartbeating Workers and retrying Clients (the
// "lazy pirate"), at the byte level (Worker, Client.Request) and the
// Protobuf level (MsgWorker, Call), on the connection and messaging
// layers.
//
// # Wire
//
// The Broker has a ROUTER front end for clients (REQ or DEALER) and a
// ROUTER back end for workers (DEALER). Requests are handed to live
// workers in least-recently-used order; every reply goes back along the
// route its request came by.
//
// A message from a worker that is a single frame is a control message,
// anything longer is a reply [route..., payload], so application payloads
// can never be taken for control frames. Control frames:
//
//   - byte level: 0x01 ready and 0x02 heartbeat (docs/protocol.md), each optionally
//     followed by the worker's capacity as a uvarint (an addition: a lone
//     byte means capacity 1), and 0x03 (an addition): "I dropped a request
//     without replying; give me another";
//   - messaging level: a Heartbeat{id, capacity} envelope, both for ready
//     and heartbeat.
//
// The broker heartbeats a worker silent for the interval and answers no
// heartbeat; a worker answers every heartbeat and sends its own after
// 1.5 intervals of sending nothing (the original's rules). A worker
// silent for the timeout (WithHeartbeat; default 2 × 3 s) is dead and
// gets no more requests; a worker that hears nothing from its broker as
// long reconnects with backoff, and announces itself again as soon as
// its connection is back.
//
// A Client talks to the front end through a DEALER and puts a request id
// frame before the payload: [id, payload], the id 16 bytes (8
// naming the client, 8 of sequence). Workers echo the route, so the
// reply comes back as [id, reply] and the client matches it to its
// request; a late reply to a request that was already answered or given
// up is dropped, never taken for another request's answer. A plain REQ
// client works too (its route is its identity and the empty delimiter).
//
// # Several brokers
//
// Brokers share nothing, so any number can run side by side
// (active/active): every Worker is given every broker's back end and
// serves them all, and every Client is given every front end, spreads
// its requests over them and fails over between them. No machine stands
// idle waiting for another to fail, and losing a broker costs only the
// requests it held, which their clients send to another broker at once.
//
// A request keeps its id across its attempts, whichever broker carries
// them, and a worker keeps each reply it sent for a window (WithDedup),
// so the guarantee is:
//
//   - the caller gets one reply, or an error: never two;
//   - a worker runs a request's handler at most once within the window:
//     an attempt that reaches it again (a retry after a timeout, or
//     after a broker died holding the reply) is answered with the kept
//     reply;
//   - across workers a request runs at least once: an attempt that
//     another worker takes runs there again. A handler runs twice only
//     for a request its client sent again.
//
// The Broker and the Workers serve as every dividere server does: the
// constructor starts nothing, Serve serves, Shutdown finishes the requests
// in hand (the broker passes their replies back), Close stops at once:
//
//	b, _ := patterns.NewBroker("tcp://*:5555", "tcp://*:5556")
//	go b.Serve(ctx)
//	w, _ := patterns.NewMsgWorker("tcp://localhost:5556")
//	messaging.Handle(w, func(ctx context.Context, q *pb.Quote, _ messaging.Peer) (*pb.Price, error) { … })
//	go w.Serve(ctx)
package patterns
