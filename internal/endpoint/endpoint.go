// Package endpoint is how dividere's sockets read the endpoint strings
// users give them ("tcp://host:port", "@" to bind, ">" to connect; the
// syntax is in connection's package doc), the routing identities a
// connecting peer takes, and free TCP ports for programs that must name a
// port before anything binds it. It lives below connection so that the
// layers above and the programs share one parser without its types being
// part of the API.
package endpoint

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrEndpoint is connection.ErrEndpoint: the parser's errors wrap it, so
// that errors.Is holds whether the socket or a caller above parsed.
var ErrEndpoint = errors.New("dividere: bad endpoint")

// Role says whether a socket binds or connects an endpoint.
type Role int

// The two ways to attach a socket to an endpoint.
const (
	Connect Role = iota
	Bind
)

// String returns "bind" or "connect".
func (r Role) String() string {
	if r == Bind {
		return "bind"
	}
	return "connect"
}

// Endpoint is one parsed endpoint: where to attach and how.
type Endpoint struct {
	Role Role
	Addr string // the ZeroMQ address, e.g. tcp://*:5555, without @ or >
}

// Parse splits a comma-separated endpoint list and decides, for each,
// whether to bind or connect. def is the socket kind's role: Publisher,
// Response, Router, the proxies' and the broker's ends serve, and bind;
// Subscriber, Request and Dealer are clients, and connect. The rule, in
// order:
//
//  1. "@addr" binds and ">addr" connects, whatever the address (CZMQ's
//     convention), for the cases that go against the kind: a Response
//     that connects to a proxy's back end, a Subscriber that binds for
//     publishers to connect to.
//  2. A server kind binds, whatever the host: "tcp://127.0.0.1:5555"
//     listens on loopback only.
//  3. A client kind connects, except to a tcp wildcard host ("*",
//     "0.0.0.0", "[::]" or empty), which can only be bound: the
//     original's "*:" rule.
//
// Connecting to a wildcard host (">tcp://*:5555") is impossible and an
// error. A tcp port of 0 or "*" binds to a port the OS picks.
func Parse(list string, def Role) ([]Endpoint, error) {
	var eps []Endpoint
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		ep := Endpoint{Role: def}
		explicit := true
		switch raw[0] {
		case '@':
			ep.Role, raw = Bind, raw[1:]
		case '>':
			ep.Role, raw = Connect, raw[1:]
		default:
			explicit = false
			if def == Connect && isWildcardTCP(raw) {
				ep.Role = Bind
			}
		}
		if explicit && ep.Role == Connect && isWildcardTCP(raw) {
			return nil, fmt.Errorf("%w: %q: cannot connect to a wildcard host (name the host, or bind)", ErrEndpoint, raw)
		}
		scheme, rest, ok := strings.Cut(raw, "://")
		if !ok || rest == "" {
			return nil, fmt.Errorf("%w: %q has no transport://address form", ErrEndpoint, raw)
		}
		switch scheme {
		case "tcp":
			_, port, err := SplitHostPort(rest)
			if err != nil {
				return nil, fmt.Errorf("%w: %q: %v", ErrEndpoint, raw, err)
			}
			if port == "0" && ep.Role == Bind {
				raw = strings.TrimSuffix(raw, "0") + "*" // libzmq's spelling of "any free port"
			}
		case "ipc", "inproc":
		default:
			return nil, fmt.Errorf("%w: %q: transport %q not supported (tcp, ipc, inproc)", ErrEndpoint, raw, scheme)
		}
		ep.Addr = raw
		eps = append(eps, ep)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w: no endpoint in %q", ErrEndpoint, list)
	}
	return eps, nil
}

func isWildcardTCP(addr string) bool {
	host, _, err := SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return false
	}
	switch host {
	case "", "*", "0.0.0.0", "::":
		return true
	}
	return false
}

// SplitHostPort is net.SplitHostPort that also accepts libzmq's "*" host
// and port and a source-address prefix ("src;dst").
func SplitHostPort(hp string) (host, port string, err error) {
	if i := strings.LastIndexByte(hp, ';'); i >= 0 {
		hp = hp[i+1:]
	}
	host, port, err = net.SplitHostPort(hp)
	if err != nil {
		return "", "", err
	}
	if port != "*" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", "", fmt.Errorf("bad port %q", port)
		}
	}
	return host, port, nil
}

// UniqueIdentity returns a routing identity that is unique across
// processes and machines ("dv-" and 16 random hex digits; ZeroMQ reserves
// identities starting with a zero byte): a Dealer's default, and a
// Worker's, which keeps it to reconnect under the same identity.
func UniqueIdentity() string {
	var b [8]byte
	rand.Read(b[:])
	return "dv-" + hex.EncodeToString(b[:])
}

// FreePort returns a TCP port that was free on host ("" means all
// interfaces) a moment ago, for a program that must name a port before
// anything binds it. Another process may take it before the caller binds
// it; where possible bind "tcp://*:0" instead and ask the socket's Port.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
