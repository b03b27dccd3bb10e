// Package registry is dividere's name service (layer 3): a Server that
// services register with and clients look services up in, and the Client
// for it.
//
// The Server speaks the original's messages (RegisterService,
// UnregisterService, ServiceLookupReq → ack / ServiceLookupRep, unknown
// names answered with server "unavailable" and port 0) on port 5000 by
// default (a ROUTER, which every REQ or DEALER peer sees as the REP of the
// wire protocol, so that requests can be served concurrently), and
// publishes on a PUB socket, port 5001: first
// RediscoverReq, so that the services of a restarted name service register
// again, and then change notices (ServiceEvent). What it adds stays
// compatible on the wire (new optional fields, new messages):
//
//   - several instances per service name, each with an instance id;
//     lookups spread over them round-robin, List returns them all;
//   - liveness: a registration with a TTL expires unless renewed, so a
//     dead service vanishes from lookups; one without (what the original
//     sends) never expires;
//   - versions, metadata and per-instance stats reported with renewals;
//   - a watch of registrations and removals.
//
// The Server keeps its state in a Store: NewMemoryStore's by default, or the
// etcd store of package registry/etcdstore, which lets several name-service
// instances share one etcd cluster (each publishing every change, whichever
// instance made it). storetest is the behaviour every Store must have.
//
// The Client takes the name service's address from an option (WithAddress,
// WithEndpoints) or from $DIVIDERE_REGISTRY (default localhost:5000); a
// comma-separated list names several instances, and the client fails over
// between them within a second, and a Watcher that lost one catches up
// from the last revision it delivered (docs/operations.md, "Several name
// services"). With WithStore it uses a Store itself, with no name-service
// process.
// Its calls take a context and time out (default 2 s), and a call that
// timed out leaves it usable. Call looks a service up and calls it.
//
// A Server serves as every dividere server does: NewServer binds, Serve
// serves, Shutdown and Close stop it.
//
// NewServer takes ServerOptions and NewClient ClientOptions; an Option
// (WithLogger, WithConnectionOptions, WithEndpoints, WithStore) is both,
// so that one vocabulary configures the two and an option given to the
// wrong one does not compile.
package registry
