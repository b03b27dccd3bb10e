// Package regbridge gives package service what it needs of a
// registry.Client beyond the public API (a subscription to the name
// service's notices, made as the client's own sockets are) without
// registry exporting its plumbing. Package registry sets NoticeSubscriber
// when it is initialised.
package regbridge

import (
	"log/slog"

	"github.com/dividere-go/dividere/messaging"
)

// NoticeSubscriber subscribes to the RediscoverReq notices of the name
// service client (a *registry.Client) talks to; nil, nil when the client
// has no notice address (a direct store).
var NoticeSubscriber func(client any, log *slog.Logger) (*messaging.Subscriber, error)
