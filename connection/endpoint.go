package connection

import (
	"strings"

	"github.com/dividere-go/dividere/internal/endpoint"
)

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
	host, port, err := endpoint.SplitHostPort(strings.TrimPrefix(ep, "tcp://"))
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
