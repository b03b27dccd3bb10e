package connection

import (
	"fmt"
	"net"
)

// FreePort returns a TCP port that was free on host ("" means all
// interfaces) a moment ago: the original's PortManager.acquire. Another
// process may take it before the caller binds it; where possible bind
// "tcp://*:0" instead and ask the socket's Port.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
