// Package httpserve serves HTTP on a listener until told to stop: what a
// Service's WithHTTP and the dividere command's -http share.
package httpserve

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Start serves h on l; stop shuts the server down (cutting connections
// still open after a second) and returns once it has.
func Start(l net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}
}
