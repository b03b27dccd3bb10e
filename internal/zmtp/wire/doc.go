// Package wire is ZMTP 3.x on the wire, without sockets: the greeting,
// frames and commands, and the metadata that READY carries (RFC 23 and
// RFC 37). It reads and writes bytes and knows nothing of connections,
// mechanisms or socket semantics, which live in the packages above it.
//
// Everything it parses comes from an untrusted peer: every length is
// checked against what the caller allows before anything is allocated.
package wire
