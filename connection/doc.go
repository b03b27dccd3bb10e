// Package connection is dividere's first layer: safe Go facades over
// ZeroMQ sockets that carry bytes, exactly as they are (docs/protocol.md).
//
// The facades are Publisher and Subscriber (topics are byte prefixes),
// Request and Response (strict alternation, round-robin over several
// peers), Dealer and Router (asynchronous, routed by identity frames), and
// Proxy (ROUTER/DEALER or XSUB/XPUB forwarding). All of them are built on
// Socket and share its guarantees:
//
//   - Every method is safe from any goroutine; one goroutine may Send while
//     others Recv on the same Dealer. A caller that must wait waits on the
//     engine's channels (the pure-Go engine) or on the socket's ZMQ_FD in
//     Go's network poller (libzmq), so idle sockets cost no CPU.
//   - The engine is the process's choice, DIVIDERE_ZMQ=go or libzmq (see
//     Engine and docs/engine.md); both speak the same wire.
//   - Blocking calls take a context.Context, and so does waiting for a
//     message without receiving it: WaitAny(ctx, sockets...).
//   - Close never hangs: it wakes every waiter (they get ErrClosed), stops
//     the event monitor and leaves unsent messages to the linger setting.
//   - Errors wrap sentinels (ErrClosed, ErrTimeout, ErrState,
//     ErrUnreachable, ErrEndpoint) for errors.Is.
//   - Socket events (connected, accepted, disconnected, connect-retried,
//     handshake succeeded or failed, closed…) are logged with log/slog at
//     debug level, counted, and offered on an optional channel
//     (WithEvents). WaitPeers is built on them, and Publisher's
//     WaitSubscribers on the subscriptions themselves, so no one has to
//     sleep for a late joiner.
//
// # Binding or connecting
//
// Constructors take a comma-separated list of endpoints, each
// transport://address with tcp, ipc or inproc ("tcp://127.0.0.1:5555",
// "ipc:///tmp/feed", "inproc://jobs"). Whether each is bound or
// connected is decided, in order:
//
//  1. "@" in front of an endpoint binds it and ">" connects it, whatever
//     the address (CZMQ's convention), for the cases that go against the
//     socket's kind: a Response that connects to a Proxy's back end, a
//     Subscriber that binds for publishers to connect to.
//  2. A server kind (Publisher, Response, Router, a Proxy's ends, the
//     patterns' Broker) binds, whatever the host: "tcp://127.0.0.1:5555"
//     listens on loopback only.
//  3. A client kind (Subscriber, Request, Dealer, the patterns' Client and
//     Worker) connects, except to a tcp wildcard host ("*", "0.0.0.0",
//     "[::]" or empty), which can only be bound.
//
// Connecting to a wildcard host (">tcp://*:5555") is an error
// (ErrEndpoint). A tcp port of 0 or "*" binds a port the OS picks;
// Endpoint and Port tell which.
//
// # Defaults
//
// Chosen on purpose, each overridable with an Option: high-water marks of
// 100,000 messages (defaultHWM: libzmq's 1000 drops most of a fast
// publisher's burst), linger 1 s, reconnect after 100 ms backing off to
// 2 s, ZMTP heartbeats every 5 s with a 15 s timeout (dead peers are
// noticed), and a 256 MiB limit on incoming frames.
package connection
