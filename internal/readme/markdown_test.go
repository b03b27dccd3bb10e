package readme_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository's root, from this package's directory.
var repoRoot = filepath.Join("..", "..")

// A doc is one Markdown page of the documentation, split into what the
// tests look at: its fenced blocks, its prose (everything else), the
// code spans and links of that prose, and its headings.
type doc struct {
	path     string // from the repository's root, with slashes: "README.md", "docs/guide.md"
	text     string
	lines    int
	blocks   []block
	spans    []string // inline code spans of the prose
	links    []string // link and image targets of the prose
	headings []string
}

// A block is a fenced code block.
type block struct {
	lang string // the info string's first word: "go", "sh", ""
	info string // the whole info string: "go main.go"
	line int    // the line of its first line of code, from 1
	text string // its code, without the fence's indentation
}

// docs reads the documentation: README.md and the repository's other
// top-level Markdown files, and docs/*.md.
func docs(t *testing.T) []*doc {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"*.md", "docs/*.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	var out []*doc
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parseDoc(filepath.ToSlash(rel), string(text)))
	}
	if !hasDoc(out, "README.md") {
		t.Fatalf("no README.md among the docs: %v", paths)
	}
	return out
}

func hasDoc(ds []*doc, path string) bool { return findDoc(ds, path) != nil }

func findDoc(ds []*doc, path string) *doc {
	for _, d := range ds {
		if d.path == path {
			return d
		}
	}
	return nil
}

var (
	fenceRE   = regexp.MustCompile("^( *)(```+|~~~+)\\s*(.*)$")
	headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	linkRE    = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
)

func parseDoc(path, text string) *doc {
	d := &doc{path: path, text: text}
	lines := strings.Split(text, "\n")
	d.lines = len(lines)
	if strings.HasSuffix(text, "\n") {
		d.lines--
	}
	var prose []string
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			prose = append(prose, lines[i])
			if h := headingRE.FindStringSubmatch(lines[i]); h != nil {
				d.headings = append(d.headings, h[1])
			}
			continue
		}
		indent, fence, info := len(m[1]), m[2], strings.TrimSpace(m[3])
		b := block{info: info, line: i + 2}
		if f := strings.Fields(info); len(f) > 0 {
			b.lang = f[0]
		}
		var code []string
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == fence {
				break
			}
			l := lines[i]
			for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
				l = l[1:]
			}
			code = append(code, l)
		}
		b.text = strings.Join(code, "\n") + "\n"
		d.blocks = append(d.blocks, b)
		prose = append(prose, "") // a block ends a paragraph
	}
	p := strings.Join(prose, "\n")
	d.spans = codeSpans(p)
	for _, m := range linkRE.FindAllStringSubmatch(withoutSpans(p), -1) {
		d.links = append(d.links, m[1])
	}
	return d
}

// codeSpans returns the inline code spans of prose: a run of n backticks
// up to the next run of exactly n. A span may wrap lines.
func codeSpans(prose string) []string {
	var out []string
	for i := 0; i < len(prose); {
		if prose[i] != '`' {
			i++
			continue
		}
		n := run(prose, i)
		end := -1
		for j := i + n; j < len(prose); {
			if prose[j] != '`' {
				j++
				continue
			}
			if m := run(prose, j); m == n {
				end = j
				break
			} else {
				j += m
			}
		}
		if end < 0 {
			i += n // an unmatched run is literal
			continue
		}
		out = append(out, strings.TrimSpace(strings.ReplaceAll(prose[i+n:end], "\n", " ")))
		i = end + n
	}
	return out
}

func run(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

// withoutSpans is prose with its code spans blanked, so that what looks
// like a link inside code is not taken for one.
func withoutSpans(prose string) string {
	var b strings.Builder
	for i := 0; i < len(prose); {
		if prose[i] != '`' {
			b.WriteByte(prose[i])
			i++
			continue
		}
		n := run(prose, i)
		end := strings.Index(prose[i+n:], strings.Repeat("`", n))
		if end < 0 {
			b.WriteString(prose[i : i+n])
			i += n
			continue
		}
		i += n + end + n
	}
	return b.String()
}

// anchors returns the link anchors of a page's headings, as GitHub makes
// them: lower case, punctuation dropped, spaces as hyphens, and -1, -2…
// after a repeated one.
func anchors(d *doc) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, h := range d.headings {
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// A table is a Markdown table: its header cells and its rows' cells.
type table struct {
	header []string
	rows   [][]string
}

// tables returns the tables of a page's prose.
func tables(d *doc) []table {
	var out []table
	var cur *table
	inBlock := false
	for _, l := range strings.Split(d.text, "\n") {
		if fenceRE.MatchString(l) {
			inBlock = !inBlock
		}
		l = strings.TrimSpace(l)
		if inBlock || !strings.HasPrefix(l, "|") {
			cur = nil
			continue
		}
		cells := splitRow(l)
		switch {
		case cur == nil:
			out = append(out, table{header: cells})
			cur = &out[len(out)-1]
		case strings.Trim(l, "|-: ") == "":
			// the delimiter row
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return out
}

// splitRow splits a table row into its cells; a | inside a code span is
// the cell's own.
func splitRow(l string) []string {
	l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
	var cells []string
	var b strings.Builder
	inCode := false
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '`':
			inCode = !inCode
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			b.WriteByte('|')
			i++
			continue
		case l[i] == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
			continue
		}
		b.WriteByte(l[i])
	}
	return append(cells, strings.TrimSpace(b.String()))
}
