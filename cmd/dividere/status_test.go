package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium renders url in a real headless browser, its scripts run, and
// returns the DOM it ends with.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium missing: make test installs it (scripts/deps.sh test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=2500"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}

// dom waits, reloading the page in the browser, until the DOM satisfies
// ok.
func dom(t *testing.T, url, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := chromium(t, "--dump-dom", url)
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status page never showed %s:\n%s", what, d)
		}
	}
}

var requestsCell = regexp.MustCompile(`data-service="orders".*?data-label="requests" class="n">(\d+)<`)

// The name service's live status page, in a real browser: a service that
// registers appears with its endpoint and TTL; the counts move as it is
// called; a killed one disappears within its TTL. The page fits a phone,
// and a screenshot of it can be taken.
func TestStatusPageInBrowser(t *testing.T) {
	httpAddr := freeAddr(t)
	reg := freeAddr(t)
	r := start(t, "registry", "-requests", "tcp://"+reg, "-notices", "tcp://"+freeAddr(t), "-watch", "tcp://"+freeAddr(t), "-http", httpAddr)
	waitOutput(t, r.err, "http: ")
	url := "http://" + httpAddr + "/"
	dom(t, url, "an empty list", func(d string) bool { return strings.Contains(d, "No service is registered.") })

	orders := start(t, "reply", "-q", "-registry", reg, "-register", "orders")
	waitOutput(t, orders.err, "registering")
	d := dom(t, url, "orders", func(d string) bool { return strings.Contains(d, `data-service="orders"`) })
	for _, want := range []string{`data-label="endpoint">tcp://`, `data-label="TTL" class="n">5s<`, `data-label="last renewal"`} {
		if !strings.Contains(d, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for range 3 {
		if code, o, e := runBin(t, "call", "-registry", reg, "orders", "dividere.Text", `{"text": "x"}`); code != exitOK {
			t.Fatalf("call orders: %d %q %q", code, o, e)
		}
	}
	// The counts come with the service's next renewal.
	dom(t, url, "3 requests", func(d string) bool {
		m := requestsCell.FindStringSubmatch(strings.ReplaceAll(d, "\n", " "))
		return m != nil && m[1] == "3"
	})

	// A phone-sized window, and a screenshot.
	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, "--window-size=390,800", "--screenshot="+shot, url)
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Fatalf("no screenshot: %v", err)
	}

	// Killed, it is gone within its TTL (5 s), and the sweep after it.
	orders.cmd.Process.Kill()
	<-orders.done
	killed := time.Now()
	dom(t, url, "orders gone", func(d string) bool { return !strings.Contains(d, `data-service="orders"`) })
	if took := time.Since(killed); took > 5*time.Second+2*time.Second {
		t.Fatalf("a killed service stayed on the page %v", took)
	}
}
