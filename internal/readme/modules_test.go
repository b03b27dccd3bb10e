package readme_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The nested modules build and test against the clone's own code, and
// agree on the version of dividere they require (RELEASING.md): every
// requirement of a dividere module names one version, and a replace
// directive points each at its directory. RELEASING.md lists every
// module.
func TestModuleVersionsAgree(t *testing.T) {
	const prefix = "github.com/dividere-go/dividere"
	var mods []string
	err := filepath.WalkDir(repoRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "original") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			mods = append(mods, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	releasing, err := os.ReadFile(filepath.Join(repoRoot, "RELEASING.md"))
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string][]string{} // version → the go.mod files requiring it
	for _, gm := range mods {
		dir, _ := filepath.Rel(repoRoot, filepath.Dir(gm))
		req, repl, module := parseGoMod(t, gm)
		if !strings.Contains(string(releasing), "`"+module+"`") {
			t.Errorf("RELEASING.md does not list the module %s (%s)", module, gm)
		}
		for dep, v := range req {
			if !strings.HasPrefix(dep, prefix) {
				continue
			}
			versions[v] = append(versions[v], dir+" → "+dep)
			target, ok := repl[dep]
			if !ok {
				t.Errorf("%s requires %s %s with no replace directive: a clone would build it against a download, not its own code", gm, dep, v)
				continue
			}
			want := filepath.Join(repoRoot, strings.TrimPrefix(dep, prefix))
			if got := filepath.Join(filepath.Dir(gm), target); filepath.Clean(got) != filepath.Clean(want) {
				t.Errorf("%s replaces %s with %s, not its directory in the clone", gm, dep, target)
			}
		}
	}
	if len(versions) > 1 {
		t.Errorf("the nested modules require different versions of dividere's modules: %v", versions)
	}
	if len(versions) == 0 {
		t.Error("no nested module requires a dividere module: the walk found none")
	}
}

// parseGoMod reads the requirements, replacements and module path of a
// go.mod file, in both the single-line and the block forms.
func parseGoMod(t *testing.T, path string) (req, repl map[string]string, module string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, repl = map[string]string{}, map[string]string{}
	block := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.SplitN(sc.Text(), "//", 2)[0])
		switch {
		case line == "":
			continue
		case line == ")":
			block = ""
			continue
		case strings.HasSuffix(line, "("):
			block = strings.TrimSpace(strings.TrimSuffix(line, "("))
			continue
		}
		verb, rest := block, line
		if block == "" {
			verb, rest, _ = strings.Cut(line, " ")
		}
		fields := strings.Fields(rest)
		switch {
		case verb == "module" && len(fields) == 1:
			module = fields[0]
		case verb == "require" && len(fields) >= 2:
			req[fields[0]] = fields[1]
		case verb == "replace" && len(fields) >= 3 && fields[1] == "=>":
			repl[fields[0]] = fields[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return req, repl, module
}
