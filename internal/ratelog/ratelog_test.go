package ratelog

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
)

func TestFloodIsSummarised(t *testing.T) {
	var buf testutil.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := New(3, 50*time.Millisecond)
	for i := range 100_000 {
		l.Warn(log, "bad input", "i", i)
	}
	l.Warn(log, "other kind")
	l.Stop()
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// 3 passed, 1 of the other kind, and at least one summary; a loop of
	// 100k lines takes far less than a second here, but on a slow machine
	// it may span a few windows, each adding at most 3 lines and a summary.
	if len(lines) < 5 || len(lines) > 5+4*40 {
		t.Fatalf("%d lines for 100,001 warnings:\n%s", len(lines), out)
	}
	total := 0
	for _, ln := range lines {
		if strings.Contains(ln, "repeated") {
			var n int
			i := strings.Index(ln, "suppressed=")
			if i < 0 {
				t.Fatalf("summary without a count: %s", ln)
			}
			if _, err := fmtSscan(ln[i+len("suppressed="):], &n); err != nil {
				t.Fatal(err)
			}
			total += n
		} else if strings.Contains(ln, `msg="bad input"`) {
			total++
		}
	}
	if total != 100_000 {
		t.Fatalf("lines and summaries account for %d warnings, want 100000", total)
	}
	if !strings.Contains(out, "other kind") {
		t.Fatal("a different kind of line was suppressed with the flood")
	}
}

func TestSummaryComesWithoutMoreLines(t *testing.T) {
	var buf testutil.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := New(1, 20*time.Millisecond)
	l.Warn(log, "x")
	l.Warn(log, "x")
	l.Warn(log, "x")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "suppressed=2") {
		if time.Now().After(deadline) {
			t.Fatalf("no summary after the window:\n%s", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// After the window, lines pass again.
	l.Warn(log, "x")
	if got := strings.Count(buf.String(), "msg=x\n"); got != 2 {
		t.Fatalf("%d plain lines, want 2:\n%s", got, buf.String())
	}
}

func fmtSscan(s string, n *int) (int, error) { return fmt.Sscan(strings.Fields(s)[0], n) }
