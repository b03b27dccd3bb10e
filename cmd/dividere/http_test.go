package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The serving commands' -http: /metrics, /healthz and /readyz, with a
// broker ready only once it has a worker.
func TestServingCommandsHTTP(t *testing.T) {
	regHTTP := freeAddr(t)
	reg := freeAddr(t)
	r := start(t, "registry", "-requests", "tcp://"+reg, "-notices", "tcp://"+freeAddr(t), "-watch", "tcp://"+freeAddr(t), "-http", regHTTP)
	waitOutput(t, r.err, "http: metrics, health and readiness on http://"+regHTTP)
	if code, body := httpGet(t, "http://"+regHTTP+"/metrics"); code != 200 || !strings.Contains(body, `dividere_nameservice_instances{nameservice="nameservice"} 0`) {
		t.Fatalf("registry /metrics: %d %s", code, body)
	}

	brokerHTTP, front, back := freeAddr(t), freeAddr(t), freeAddr(t)
	b := start(t, "broker", "-http", brokerHTTP, "tcp://"+front, "tcp://"+back)
	waitOutput(t, b.err, "http: metrics")
	if code, _ := httpGet(t, "http://"+brokerHTTP+"/healthz"); code != 200 {
		t.Fatalf("broker /healthz: %d", code)
	}
	if code, body := httpGet(t, "http://"+brokerHTTP+"/readyz"); code != 503 || !strings.Contains(body, "no live worker") {
		t.Fatalf("broker /readyz with no worker: %d %q", code, body)
	}

	proxyHTTP := freeAddr(t)
	p := start(t, "proxy", "-http", proxyHTTP, "tcp://"+freeAddr(t), "tcp://"+freeAddr(t))
	waitOutput(t, p.err, "http: metrics")
	if code, body := httpGet(t, "http://"+proxyHTTP+"/metrics"); code != 200 || !strings.Contains(body, "dividere_socket_peers{socket=") {
		t.Fatalf("proxy /metrics: %d %s", code, body)
	}
	if code, _ := httpGet(t, "http://"+proxyHTTP+"/readyz"); code != 200 {
		t.Fatalf("proxy /readyz: %d", code)
	}

	replyHTTP := freeAddr(t)
	ep := "tcp://" + freeAddr(t)
	rep := start(t, "reply", "-q", "-http", replyHTTP, ep)
	waitOutput(t, rep.err, "answering on")
	if code, o, e := runBin(t, "req", ep, "dividere.Text", `{"text": "x"}`); code != exitOK {
		t.Fatalf("req: %d %q %q", code, o, e)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := httpGet(t, "http://"+replyHTTP+"/metrics")
		if strings.Contains(body, `dividere_requests_total{code="OK",type="dividere.Text"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reply /metrics: %s", body)
		}
	}
}
