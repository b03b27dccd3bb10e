package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The acceptance test of active/active brokers, every part a process of
// its own: two `dividere broker`s, 8 workers serving both and 8 clients
// spreading requests over both (the binary again, -role). Broker a is
// SIGKILLed under load and started again on the same endpoints. Every
// request is answered, once, with its own reply; no worker runs a
// request twice, and a request runs on two workers only if its client
// sent it again; no client waits more than a second between two answers;
// the restarted broker takes requests again.
func TestFailoverAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 18 processes for a dozen seconds")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := runFailover(ctx, failoverConfig{bin: dividereBinary(t), workers: 8, clients: 8, rate: 40,
		timeout: 600 * time.Millisecond, before: 3 * time.Second, down: 3 * time.Second, after: 3 * time.Second,
		say: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if err := res.check(); err != nil {
		t.Error(err)
	}
	// The guarantee is checked by check, whose every rule a run can break;
	// these say that the run was the scenario: real load on both brokers
	// before, during and after.
	if res.Requests < 8*40*3 || res.Runs < res.Answered {
		t.Errorf("too little load for the scenario: %+v", res)
	}
	if res.RestartedRequests < 8 {
		t.Errorf("the restarted broker took %d requests, fewer than one a client", res.RestartedRequests)
	}
}

// check fails each broken rule of the guarantee, so that the acceptance
// test can fail.
func TestFailoverCheck(t *testing.T) {
	good := failoverResult{Requests: 10, Answered: 10, Runs: 11, OnTwoWorkers: 1, Resent: 1, LongestGap: 300 * time.Millisecond, RestartedRequests: 3}
	if err := good.check(); err != nil {
		t.Fatalf("a good run: %v", err)
	}
	for _, tc := range []struct {
		change func(*failoverResult)
		want   string
	}{
		{func(r *failoverResult) { r.Answered = 9 }, "answered 9 of 10"},
		{func(r *failoverResult) { r.Failed = 1 }, "1 failed"},
		{func(r *failoverResult) { r.Duplicates = 1 }, "1 answers delivered twice"},
		{func(r *failoverResult) { r.Wrong = 1 }, "1 replies to another request"},
		{func(r *failoverResult) { r.TwiceOnOneWorker = 1 }, "ran twice on one worker"},
		{func(r *failoverResult) { r.Resent = 0 }, "only 0 were sent again"},
		{func(r *failoverResult) { r.LongestGap = 1100 * time.Millisecond }, "waited 1.1s"},
		{func(r *failoverResult) { r.RestartedRequests = 0 }, "took no request"},
	} {
		r := good
		tc.change(&r)
		if err := r.check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}

// `dividere demo failover` runs the scenario for a person to watch, and
// ends with one line.
func TestDemoFailoverCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 8 processes for a few seconds")
	}
	code, out, errOut := runBinFor(t, 2*time.Minute, "demo", "failover", "-workers", "2", "-clients", "2", "-before", "1s", "-down", "1s", "-after", "1s")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`^failover: answered (\d+)/(\d+), duplicates 0, longest gap \d+ ms$`).FindStringSubmatch(last)
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("last line %q\n%s", last, out)
	}
	for _, want := range []string{"SIGKILL broker a", "broker a started again", "requests through broker a down, b "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"demo", "nosuch"}, {"demo", "failover", "-role", "nosuch"}, {"demo", "failover", "-workers", "0"}} {
		if code, _, _ := runBin(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// runBinFor is runBin with a longer bound.
func runBinFor(t *testing.T, d time.Duration, args ...string) (code int, out, errOut string) {
	t.Helper()
	p := start(t, args...)
	code = p.wait(t, d)
	return code, p.out.String(), p.err.String()
}

// `dividere broker` takes what a broker of a set needs: a name for its
// metrics, and the workers' and clients' timings; bad values are usage
// errors.
func TestBrokerSetFlags(t *testing.T) {
	front, back, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	b := start(t, "broker", "-name", "edge-a", "-heartbeat", "500ms", "-liveness", "2s", "-client-timeout", "1s",
		"-http", httpAddr, "tcp://"+front, "tcp://"+back)
	waitOutput(t, b.out, "broker: clients on tcp://"+front)
	if code, body := httpGet(t, "http://"+httpAddr+"/metrics"); code != 200 || !strings.Contains(body, `dividere_broker_workers{broker="edge-a"} 0`) {
		t.Fatalf("metrics: %d, no broker=\"edge-a\" workers gauge in\n%s", code, body)
	}
	for _, bad := range [][]string{{"-liveness", "-1s"}, {"-client-timeout", "0s"}, {"-name", ""}} {
		args := append(append([]string{"broker"}, bad...), "tcp://"+freeAddr(t), "tcp://"+freeAddr(t))
		if code, _, e := runBin(t, args...); code != exitUsage || !strings.Contains(e, "broker: "+bad[0]) {
			t.Errorf("%v: exit %d %q", bad, code, e)
		}
	}
}
