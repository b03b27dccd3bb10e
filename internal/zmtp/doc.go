// Package zmtp is dividere's ZeroMQ engine, in pure Go: sockets of every
// ZeroMQ type that speak ZMTP 3.1 (RFC 37, accepting 3.0 peers) over
// tcp, ipc and inproc, wire-compatible with libzmq.
//
// The layers below it are apart: package wire is the bytes (greeting,
// frames, commands), package mech the security mechanisms. This package
// holds what makes a socket: connections and their handshake, pipes with
// high-water marks, the routing of each socket type (fair queueing,
// round robin, identities, subscriptions), reconnection, heartbeats and
// the events a monitor reports.
//
// Where it differs from libzmq it does so on purpose: every message it
// drops is counted (Stats), and everything a peer can make it hold is
// bounded (Options): message size, frames per message, subscriptions
// per peer and their bytes, queued bytes per peer.
//
// A Socket is safe for use from any number of goroutines.
package zmtp
