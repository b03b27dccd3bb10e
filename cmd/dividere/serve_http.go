package main

import (
	"fmt"
	"net"
	"net/http"

	"github.com/dividere-go/dividere/internal/httpserve"
)

// httpFlag adds -http to a serving command.
func (f *flags) httpFlag() *string {
	return f.String("http", "", "serve /metrics (Prometheus), /healthz and /readyz over HTTP on this host:port")
}

// serveHTTP serves h on addr until the returned stop is called; it says
// where on standard error.
func serveHTTP(e *env, addr string, h http.Handler) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError{fmt.Sprintf("-http %s: %v", addr, err)}
	}
	fmt.Fprintf(e.errOut, "http: metrics, health and readiness on http://%s\n", l.Addr())
	return httpserve.Start(l, h), nil
}
