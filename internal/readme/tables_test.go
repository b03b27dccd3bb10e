package readme_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's benchmark tables are those of the run kept in
// bench/results.md, row for row: a figure quoted in the README is one
// that ran, and a rerun of the suite that is kept must carry the README
// with it.
func TestREADMETablesAreTheKeptRun(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	results, err := os.ReadFile(filepath.Join(root, "bench", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	kept := tables(string(results), "## ")
	if len(kept) < 5 {
		t.Fatalf("bench/results.md has %d workload tables; want at least 5", len(kept))
	}
	shown := tables(string(readme), "#### ")
	for name, rows := range kept {
		got, ok := shown[name]
		if !ok {
			t.Errorf("the README has no table %q (bench/results.md has)", name)
			continue
		}
		if got != rows {
			t.Errorf("the README's table %q is not bench/results.md's:\nREADME:\n%s\nresults.md:\n%s", name, got, rows)
		}
	}
}

// tables returns, by heading (the text after prefix), the table that
// follows each heading of that level: its lines that start with "|".
func tables(text, prefix string) map[string]string {
	out := map[string]string{}
	var name string
	var rows []string
	flush := func() {
		if name != "" && len(rows) > 0 {
			out[name] = strings.Join(rows, "\n")
		}
		name, rows = "", nil
	}
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, prefix):
			flush()
			name = strings.TrimSpace(strings.TrimPrefix(l, prefix))
		case strings.HasPrefix(l, "#"):
			flush()
		case name != "" && strings.HasPrefix(l, "|"):
			rows = append(rows, l)
		case name != "" && len(rows) > 0:
			flush() // the table ended
		}
	}
	flush()
	return out
}
