package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"time"

	"github.com/dividere-go/dividere/registry"
)

// The name service's live status page (registry -http): the page polls
// its JSON API once a second; no JavaScript framework, readable on a
// phone.
//
//go:embed web/status.html
var statusPage []byte

// statusHandler serves the page at / and its API at /api/services, and
// everything else with next (the metrics and health endpoints). c is a
// client on the name service's own store: it lists what the name service
// knows, whatever keys its requests need.
func statusHandler(c *registry.Client, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(statusPage)
	})
	mux.HandleFunc("GET /api/services", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		list, err := c.List(ctx, r.URL.Query().Get("service"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(statusOf(list, time.Now()))
	})
	return mux
}

type statusJSON struct {
	Time      time.Time                   `json:"time"`
	Instances int                         `json:"instances"`
	Services  map[string][]instanceStatus `json:"services"`
}

type instanceStatus struct {
	Instance string            `json:"instance"`
	Endpoint string            `json:"endpoint"`
	Version  string            `json:"version,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Requests uint64            `json:"requests"`
	Errors   uint64            `json:"errors"`
	Avg      string            `json:"avg,omitempty"`     // average handling time
	TTL      string            `json:"ttl,omitempty"`     // empty: never expires
	Renewed  string            `json:"renewed,omitempty"` // how long ago it last registered
}

func statusOf(list []registry.Instance, now time.Time) statusJSON {
	st := statusJSON{Time: now, Instances: len(list), Services: map[string][]instanceStatus{}}
	for _, in := range list {
		i := instanceStatus{Instance: in.ID, Endpoint: in.Endpoint(), Version: in.Version, Metadata: in.Metadata}
		if in.Stats != nil {
			i.Requests, i.Errors = in.Stats.Requests, in.Stats.Errors
			if in.Stats.Requests > 0 {
				i.Avg = time.Duration(in.Stats.ProcessingNanos / in.Stats.Requests).Round(time.Microsecond).String()
			}
		}
		if in.TTL > 0 {
			i.TTL = in.TTL.Round(time.Millisecond).String()
		}
		if !in.Renewed.IsZero() {
			i.Renewed = now.Sub(in.Renewed).Round(100*time.Millisecond).String() + " ago"
		}
		st.Services[in.Service] = append(st.Services[in.Service], i)
	}
	return st
}
