package connection

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

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

// ParseEndpoints splits a comma-separated endpoint list and decides, for
// each, whether to bind or connect. def is the socket kind's role:
// Publisher, Response, Router, the proxies' and the broker's ends serve,
// and bind; Subscriber, Request and Dealer are clients, and connect. The
// rule, in order:
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
// error. A tcp port of 0 or "*" binds to a port the OS picks; the
// socket's Endpoint method tells which.
func ParseEndpoints(list string, def Role) ([]Endpoint, error) {
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
			_, port, err := splitHostPort(rest)
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
	host, _, err := splitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return false
	}
	switch host {
	case "", "*", "0.0.0.0", "::":
		return true
	}
	return false
}

// splitHostPort is net.SplitHostPort that also accepts libzmq's "*" host
// and port and a source-address prefix ("src;dst").
func splitHostPort(hp string) (host, port string, err error) {
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

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// connectable turns a bound endpoint as libzmq reports it
// ("tcp://0.0.0.0:41234") into one a local peer can connect to
// ("tcp://127.0.0.1:41234").
func connectable(ep string) string {
	if !strings.HasPrefix(ep, "tcp://") {
		return ep
	}
	host, port, err := splitHostPort(strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		return ep
	}
	switch host {
	case "", "*", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "tcp://" + joinHostPort(host, port)
}
