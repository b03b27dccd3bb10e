package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A Service with WithHTTP: ready once registered; its counters, its
// requests by type and code and their handling time, the name service's
// and its sockets', on /metrics; a broker ready once it has a worker.
func TestServiceBrokerNameServiceMetrics(t *testing.T) {
	m := metrics.New(nil)
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	metrics.Add(m, "ns", ns.Stats)
	svc, err := service.New(nil, service.WithName("metered"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(ns.Endpoints())),
		service.WithHTTP("127.0.0.1:0", m.Handler(nil)), service.WithReactorOptions(messaging.WithObserver(m.Observe)))
	if err != nil {
		t.Fatal(err)
	}
	messaging.Handle(svc, func(_ context.Context, q *msglib.Text, _ messaging.Peer) (*msglib.Text, error) {
		if q.Text == "" {
			return nil, messaging.Errorf(messaging.InvalidArgument, "empty")
		}
		return q, nil
	})
	metrics.Add(m, svc.Instance().Service, svc.Stats)
	base := "http://" + svc.HTTPAddr()
	// Not serving yet: nothing answers HTTP either. Serving, it is live
	// at once and ready once registered.
	testutil.Serve(t, ns)
	testutil.Serve(t, svc)
	ctx := testutil.Ctx(t, 20*time.Second)
	if err := svc.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz once registered: %d %q", code, body)
	}
	req, err := messaging.NewRequest(svc.Instance().Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	metrics.Add(m, req.Name(), req.Stats)
	metrics.Add(m, req.Name(), req.MessageStats)
	for _, text := range []string{"a", "b", ""} {
		messaging.Call[*msglib.Text](ctx, req, &msglib.Text{Text: text})
	}

	b, err := patterns.NewBroker("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics.Add(m, "jobs", b.Stats)
	testutil.Serve(t, b)
	h := m.Handler(brokerReady(b))
	srv := &http.Server{Handler: h}
	// The broker's readiness, straight from the handler.
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, mustReq(t, "/readyz"))
	if rec.code != http.StatusServiceUnavailable {
		t.Fatalf("a broker with no worker is ready: %d %s", rec.code, rec.body.String())
	}
	_ = srv
	w, err := patterns.NewWorker(b.Backend(), func(_ context.Context, p []byte) ([]byte, error) { return p, nil })
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, w)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{header: http.Header{}}
	h.ServeHTTP(rec, mustReq(t, "/readyz"))
	if rec.code != 200 {
		t.Fatalf("a broker with a worker is not ready: %d %s", rec.code, rec.body.String())
	}

	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`dividere_requests_total{code="OK",type="dividere.Text"} 2`,
		`dividere_requests_total{code="INVALID_ARGUMENT",type="dividere.Text"} 1`,
		`dividere_request_duration_seconds_count{type="dividere.Text"} 3`,
		`dividere_service_requests_total{service="metered"} 3`,
		`dividere_service_errors_total{service="metered"} 1`,
		`dividere_nameservice_instances{nameservice="ns"} 1`,
		`dividere_nameservice_announcing{nameservice="ns"} 1`,
		`dividere_nameservice_registrations_total{nameservice="ns"}`,
		`dividere_broker_workers{broker="jobs"} 1`,
		`dividere_broker_queued_requests{broker="jobs"} 0`,
		`dividere_socket_sent_messages_total{socket="` + req.Name() + `"} 3`,
		`dividere_messages_decode_errors_total{endpoint="` + req.Name() + `",reason="unknown_type"} 0`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// brokerReady is a broker's readiness, as Handler's doc has it.
func brokerReady(b *patterns.Broker) func() error {
	return func() error {
		if b.Stats().Workers == 0 {
			return errors.New("no live worker")
		}
		return nil
	}
}

func mustReq(t *testing.T, path string) *http.Request {
	r, err := http.NewRequest("GET", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(c int) { r.code = c }
