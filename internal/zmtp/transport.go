package zmtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrEndpoint marks an endpoint that cannot be parsed, bound or used.
var ErrEndpoint = errors.New("zmtp: bad endpoint")

// endpoint is a parsed "transport://address".
type endpoint struct {
	transport string // "tcp", "ipc", "inproc"
	addr      string
}

func parseEndpoint(s string) (endpoint, error) {
	tr, addr, ok := strings.Cut(s, "://")
	if !ok || addr == "" {
		return endpoint{}, fmt.Errorf("%w: %q", ErrEndpoint, s)
	}
	switch tr {
	case "tcp", "ipc", "inproc":
	default:
		return endpoint{}, fmt.Errorf("%w: transport %q is not supported (tcp, ipc, inproc)", ErrEndpoint, tr)
	}
	return endpoint{transport: tr, addr: addr}, nil
}

func (e endpoint) String() string { return e.transport + "://" + e.addr }

// tcpBindAddr turns libzmq's bind syntax into Go's: "*" is every
// interface, and "*" or "0" as the port is one the system chooses.
func tcpBindAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w: tcp://%s: %v", ErrEndpoint, addr, err)
	}
	if host == "*" {
		host = ""
	}
	if port == "*" {
		port = "0"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%w: tcp://%s: port %q", ErrEndpoint, addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// listen binds a tcp or ipc endpoint and returns the listener and the
// endpoint as a peer would connect to it (the port filled in).
func listen(e endpoint) (net.Listener, string, error) {
	switch e.transport {
	case "tcp":
		addr, err := tcpBindAddr(e.addr)
		if err != nil {
			return nil, "", err
		}
		network := "tcp"
		if h, _, _ := net.SplitHostPort(addr); h == "" {
			network = "tcp4" // libzmq's "*" is IPv4 unless ZMQ_IPV6
		}
		l, err := net.Listen(network, addr)
		if err != nil {
			return nil, "", err
		}
		ta := l.Addr().(*net.TCPAddr)
		host := "0.0.0.0"
		if h, _, _ := net.SplitHostPort(addr); h != "" {
			host = ta.IP.String()
		}
		return l, "tcp://" + net.JoinHostPort(host, strconv.Itoa(ta.Port)), nil
	case "ipc":
		path := e.addr
		if path == "*" {
			dir, err := os.MkdirTemp("", "zmtp-ipc-")
			if err != nil {
				return nil, "", err
			}
			path = filepath.Join(dir, "socket")
		}
		l, err := listenUnix(path)
		if err != nil {
			return nil, "", err
		}
		return l, "ipc://" + path, nil
	}
	return nil, "", fmt.Errorf("%w: cannot listen on %s", ErrEndpoint, e)
}

// listenUnix binds a unix socket. A file left by a process that died is
// removed first, but only when nothing answers on it: a live listener's
// path is never taken over. A leading '@' is Linux's abstract namespace.
func listenUnix(path string) (net.Listener, error) {
	name := path
	if strings.HasPrefix(path, "@") {
		name = "\x00" + path[1:]
	}
	l, err := net.Listen("unix", name)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || name[0] == 0 {
		return l, err
	}
	c, derr := net.DialTimeout("unix", path, time.Second)
	if derr == nil {
		c.Close()
		return nil, err // someone is listening there
	}
	if !errors.Is(derr, syscall.ECONNREFUSED) {
		return nil, err
	}
	if rerr := os.Remove(path); rerr != nil {
		return nil, err
	}
	return net.Listen("unix", name)
}

// dial opens a connection to a tcp or ipc endpoint.
func dial(ctx context.Context, e endpoint, keepAlive time.Duration) (net.Conn, error) {
	switch e.transport {
	case "tcp":
		d := net.Dialer{KeepAlive: keepAlive}
		host, port, err := net.SplitHostPort(e.addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrEndpoint, e, err)
		}
		if host == "*" {
			host = "127.0.0.1"
		}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, err
		}
		c.(*net.TCPConn).SetNoDelay(true)
		return c, nil
	case "ipc":
		name := e.addr
		if strings.HasPrefix(name, "@") {
			name = "\x00" + name[1:]
		}
		var d net.Dialer
		return d.DialContext(ctx, "unix", name)
	}
	return nil, fmt.Errorf("%w: cannot dial %s", ErrEndpoint, e)
}

// checkConnectable checks at Connect time what can be checked without
// dialing, so that a typo fails at once rather than in every retry.
func checkConnectable(e endpoint) error {
	if e.transport != "tcp" {
		return nil
	}
	_, port, err := net.SplitHostPort(e.addr)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrEndpoint, e, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%w: %s: port %q", ErrEndpoint, e, port)
	}
	return nil
}
