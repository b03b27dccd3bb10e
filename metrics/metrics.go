// Package metrics exposes dividere's counters to Prometheus, with the
// official client library, and serves them over HTTP beside liveness and
// readiness checks.
//
// The counters are the ones the components keep anyway (their Stats
// methods, given to Add): they are read when Prometheus scrapes, so
// exposing them costs nothing per message. Only the handling-time
// histogram is recorded per request, through a Reactor's observer
// (messaging.WithObserver(m.Observe)).
//
//	m := metrics.New(nil)
//	metrics.Add(m, "jobs", broker.Stats)
//	http.ListenAndServe(":9090", m.Handler(func() error { ... }))
//
// It is a module of its own, so that the core module requires nothing of
// Prometheus.
package metrics

import (
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
)

// Metrics collects the counters of the components added to it.
type Metrics struct {
	reg *prometheus.Registry

	mu      sync.Mutex
	sources []func(ch chan<- prometheus.Metric)

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	byType   sync.Map // message type → *typeMetrics: the label lookups made once
}

// typeMetrics are one message type's children of requests and duration.
type typeMetrics struct {
	ok       prometheus.Counter
	duration prometheus.Observer
}

// New returns Metrics registered in reg, or in a registry of its own
// (with the Go runtime's and the process's collectors) when reg is nil:
// give it a registry to gather from it yourself.
func New(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dividere_requests_total",
			Help: "Messages handled by a Reactor or Service, by type and result code (OK, or the refusal's code)."}, []string{"type", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dividere_request_duration_seconds",
			Help:    "How long handlers took, by message type.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"type"}),
	}
	reg.MustRegister(m.requests, m.duration, collector{m})
	return m
}

func (m *Metrics) add(f func(ch chan<- prometheus.Metric)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources = append(m.sources, f)
}

// collector reads every source when Prometheus scrapes.
type collector struct{ m *Metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	sources := append([]func(ch chan<- prometheus.Metric){}, c.m.sources...)
	c.m.mu.Unlock()
	for _, f := range sources {
		f(ch)
	}
}

var allDescs []*prometheus.Desc

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	allDescs = append(allDescs, d)
	return d
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// Socket metrics.
var (
	socketSent        = desc("dividere_socket_sent_messages_total", "Messages a socket sent.", "socket")
	socketReceived    = desc("dividere_socket_received_messages_total", "Messages a socket received.", "socket")
	socketSendErrors  = desc("dividere_socket_send_errors_total", "Sends that failed, timeouts included.", "socket")
	socketRecvErrors  = desc("dividere_socket_receive_errors_total", "Receives that failed, timeouts included.", "socket")
	socketPeers       = desc("dividere_socket_peers", "Peers with a completed handshake.", "socket")
	socketReconnects  = desc("dividere_socket_reconnects_total", "Endpoints attached again after libzmq tore their connection down.", "socket")
	socketAuthFailure = desc("dividere_socket_auth_failures_total", "Peers refused by authentication (CURVE/ZAP).", "socket")
	socketEvents      = desc("dividere_socket_events_total", "Monitor events seen.", "socket")
)

// Stats is every kind of counters Add knows: a socket's (any
// connection-layer socket's or messaging endpoint's Stats), a messaging
// endpoint's message counters (MessageStats), a Reactor's or a
// MsgWorker's handlers' (Stats, HandlerStats), a Broker's, a name
// service's (registry.Server) and a Service's.
type Stats interface {
	connection.Stats | messaging.Stats | messaging.ReactorStats | patterns.BrokerStats | registry.ServerStats | *msglib.InstanceStats
}

// Add adds the counters that stats returns, read at each scrape and
// labelled name (for a socket, its Name() is the usual one):
//
//	metrics.Add(m, "jobs", broker.Stats)
//	metrics.Add(m, req.Name(), req.Stats)        // a messaging endpoint's socket counters,
//	metrics.Add(m, req.Name(), req.MessageStats) // and its message counters
//
// For requests by type and code, and their handling time, give a Reactor
// (or a Service, a MsgWorker) messaging.WithObserver(m.Observe) too.
func Add[S Stats](m *Metrics, name string, stats func() S) {
	m.add(func(ch chan<- prometheus.Metric) {
		switch st := any(stats()).(type) {
		case connection.Stats:
			socket(ch, name, st)
		case messaging.Stats:
			endpoint(ch, name, st)
		case messaging.ReactorStats:
			reactor(ch, name, st)
		case patterns.BrokerStats:
			broker(ch, name, st)
		case registry.ServerStats:
			nameService(ch, name, st)
		case *msglib.InstanceStats:
			service(ch, name, st)
		}
	})
}

func socket(ch chan<- prometheus.Metric, n string, st connection.Stats) {
	counter(ch, socketSent, st.Sent, n)
	counter(ch, socketReceived, st.Received, n)
	counter(ch, socketSendErrors, st.SendErrors, n)
	counter(ch, socketRecvErrors, st.RecvErrors, n)
	gauge(ch, socketPeers, float64(st.Peers), n)
	counter(ch, socketReconnects, st.Reattaches, n)
	counter(ch, socketAuthFailure, st.AuthFailures, n)
	counter(ch, socketEvents, st.Events, n)
}

// Messaging endpoint metrics.
var (
	decodeErrors = desc("dividere_messages_decode_errors_total", "Messages dropped undecoded, by reason.", "endpoint", "reason")
	messagesLost = desc("dividere_messages_lost_total", "Messages missing from publishers' sequences (sent, lost on the way).", "endpoint")
)

func endpoint(ch chan<- prometheus.Metric, n string, st messaging.Stats) {
	counter(ch, decodeErrors, st.NotEnvelope, n, "not_envelope")
	counter(ch, decodeErrors, st.NoPayload, n, "no_payload")
	counter(ch, decodeErrors, st.UnknownType, n, "unknown_type")
	counter(ch, decodeErrors, st.Corrupt, n, "corrupt")
	counter(ch, messagesLost, st.Lost, n)
}

// Reactor metrics.
var (
	reactorReceived = desc("dividere_reactor_received_total", "Messages a Reactor received and decoded.", "reactor")
	reactorHandled  = desc("dividere_reactor_handled_total", "Handler calls that returned no error.", "reactor")
	reactorFailed   = desc("dividere_reactor_failed_total", "Handler calls that returned an error or panicked.", "reactor")
	reactorPanics   = desc("dividere_reactor_panics_total", "Handler calls that panicked.", "reactor")
	reactorRefused  = desc("dividere_reactor_refused_total", "Requests answered with a refusal without a handler's answer.", "reactor")
	reactorExpired  = desc("dividere_reactor_expired_total", "Requests whose requester's deadline passed before a handler was free.", "reactor")
)

func reactor(ch chan<- prometheus.Metric, name string, st messaging.ReactorStats) {
	counter(ch, reactorReceived, st.Received, name)
	counter(ch, reactorHandled, st.Handled, name)
	counter(ch, reactorFailed, st.Failed, name)
	counter(ch, reactorPanics, st.Panics, name)
	counter(ch, reactorRefused, st.Refused, name)
	counter(ch, reactorExpired, st.Expired, name)
}

// Observe records one handled message: its type, how long its handler
// took, and its result (nil: OK; otherwise the refusal's code).
// messaging.WithObserver(m.Observe) is the Reactor option (for a
// Service: service.WithReactorOptions; for a MsgWorker:
// patterns.WithReactorOptions) that calls it for every handled message;
// call it from any other handling loop too.
func (m *Metrics) Observe(typ protoreflect.FullName, took time.Duration, err error) {
	v, ok := m.byType.Load(typ)
	if !ok {
		t := string(typ)
		v, _ = m.byType.LoadOrStore(typ, &typeMetrics{ok: m.requests.WithLabelValues(t, messaging.OK.String()),
			duration: m.duration.WithLabelValues(t)})
	}
	tm := v.(*typeMetrics)
	if err == nil {
		tm.ok.Inc()
	} else {
		m.requests.WithLabelValues(string(typ), messaging.CodeOf(err).String()).Inc()
	}
	tm.duration.Observe(took.Seconds())
}

// Broker metrics.
var (
	brokerQueue      = desc("dividere_broker_queued_requests", "Requests waiting for a worker now.", "broker")
	brokerWorkers    = desc("dividere_broker_workers", "Live workers now.", "broker")
	brokerRequests   = desc("dividere_broker_requests_total", "Requests received from clients.", "broker")
	brokerReplies    = desc("dividere_broker_replies_total", "Replies passed back to clients.", "broker")
	brokerDropped    = desc("dividere_broker_dropped_total", "Requests refused because the queue was full.", "broker")
	brokerExpired    = desc("dividere_broker_expired_total", "Queued requests dropped: waited too long, or past their client's deadline.", "broker", "why")
	brokerDeaths     = desc("dividere_broker_worker_deaths_total", "Workers given up for silence.", "broker")
	brokerUnroutable = desc("dividere_broker_unroutable_total", "Replies whose client was gone.", "broker")
	brokerMalformed  = desc("dividere_broker_malformed_total", "Messages that fit no part of the protocol.", "broker")
)

func broker(ch chan<- prometheus.Metric, name string, st patterns.BrokerStats) {
	gauge(ch, brokerQueue, float64(st.Queued), name)
	gauge(ch, brokerWorkers, float64(st.Workers), name)
	counter(ch, brokerRequests, st.Requests, name)
	counter(ch, brokerReplies, st.Replies, name)
	counter(ch, brokerDropped, st.Dropped, name)
	counter(ch, brokerExpired, st.Expired, name, "queue_timeout")
	counter(ch, brokerExpired, st.Late, name, "client_deadline")
	counter(ch, brokerDeaths, st.Deaths, name)
	counter(ch, brokerUnroutable, st.Unroutable, name)
	counter(ch, brokerMalformed, st.Malformed, name)
}

// Name-service metrics.
var (
	nsRegistrations = desc("dividere_nameservice_registrations_total", "Register requests, renewals included.", "nameservice")
	nsLookups       = desc("dividere_nameservice_lookups_total", "Lookups.", "nameservice")
	nsNotFound      = desc("dividere_nameservice_lookups_not_found_total", "Lookups of a name with no live instance.", "nameservice")
	nsRefused       = desc("dividere_nameservice_refused_total", "Requests refused by the registrar or lookup keys.", "nameservice")
	nsExpiries      = desc("dividere_nameservice_expiries_total", "Instances that expired.", "nameservice")
	nsInstances     = desc("dividere_nameservice_instances", "Live instances now.", "nameservice")
	nsWatchers      = desc("dividere_nameservice_watchers", "Subscribers to the change notices now.", "nameservice")
	nsAnnouncing    = desc("dividere_nameservice_announcing", "1 while the name service watches its store and publishes every change.", "nameservice")
)

func nameService(ch chan<- prometheus.Metric, name string, st registry.ServerStats) {
	counter(ch, nsRegistrations, st.Registrations, name)
	counter(ch, nsLookups, st.Lookups, name)
	counter(ch, nsNotFound, st.NotFound, name)
	counter(ch, nsRefused, st.Refused, name)
	counter(ch, nsExpiries, st.Expiries, name)
	if st.Instances >= 0 {
		gauge(ch, nsInstances, float64(st.Instances), name)
	}
	gauge(ch, nsWatchers, float64(st.Watchers), name)
	announcing := 0.0
	if st.Announcing {
		announcing = 1
	}
	gauge(ch, nsAnnouncing, announcing, name)
}

// Service metrics.
var (
	svcRequests = desc("dividere_service_requests_total", "Requests a Service handled.", "service")
	svcErrors   = desc("dividere_service_errors_total", "Requests a Service refused or failed.", "service")
	svcSeconds  = desc("dividere_service_handling_seconds_total", "Time a Service's handlers took, in all.", "service")
)

func service(ch chan<- prometheus.Metric, n string, st *msglib.InstanceStats) {
	counter(ch, svcRequests, st.GetRequests(), n)
	counter(ch, svcErrors, st.GetErrors(), n)
	ch <- prometheus.MustNewConstMetric(svcSeconds, prometheus.CounterValue, float64(st.GetProcessingNanos())/1e9, n)
}
