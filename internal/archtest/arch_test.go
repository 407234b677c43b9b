package archtest

import (
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/packetd/packetd"

// rule says what one package (or tree, with a trailing /...) may import
// beyond the standard library.
type rule struct {
	pkg     string
	allowed []string // import path prefixes
}

var rules = []rule{
	{"codec", []string{"github.com/vmihailenco/msgpack/v5"}},
	{"rooms", nil},
	{"internal/stats", nil},
	{"internal/deliver", []string{module + "/codec", module + "/rooms", module + "/internal/stats", "golang.org/x/sys/unix"}},
	{"internal/broker", []string{module + "/codec", module + "/rooms", module + "/internal/deliver", module + "/internal/stats", module + "/internal/store", module + "/internal/auth", module + "/internal/acl"}},
	{"internal/acl", nil},
	{"internal/auth", []string{module + "/codec", module + "/internal/acl", module + "/internal/stats", "github.com/golang-jwt/jwt/v5", "golang.org/x/crypto/bcrypt", "go.yaml.in/yaml/v3"}},
	{"internal/store", []string{"go.etcd.io/bbolt", "github.com/vmihailenco/msgpack/v5"}},
	{"transport/tcp", []string{"github.com/panjf2000/gnet/v2", "golang.org/x/sys/unix", module + "/codec", module + "/internal/", module + "/transport/internal/"}},
	{"transport/udp", []string{"github.com/panjf2000/gnet/v2", "golang.org/x/sys/unix", module + "/codec", module + "/internal/", module + "/transport/internal/"}},
	{"transport/tlsterm", []string{module + "/codec", module + "/internal/stats", module + "/transport/tcp"}},
	{"client", []string{module + "/codec", "github.com/vmihailenco/msgpack/v5"}},
	{"internal/metrics", []string{"github.com/prometheus/", module + "/codec", module + "/internal/broker", module + "/internal/stats"}},
	{"internal/admin", []string{"github.com/prometheus/", module + "/codec", module + "/rooms", module + "/internal/broker", module + "/internal/metrics", module + "/internal/stats"}},
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", dir, err)
	}
	return dir
}

// packages returns every package directory of the module, relative to it.
func packages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if m, _ := filepath.Glob(filepath.Join(path, "*.go")); len(m) > 0 {
				rel, _ := filepath.Rel(dir, path)
				out = append(out, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportRules(t *testing.T) {
	dir := root(t)
	for _, r := range rules {
		p, err := build.ImportDir(filepath.Join(dir, r.pkg), 0)
		if err != nil {
			t.Fatalf("%s: %v", r.pkg, err)
		}
		for _, imp := range p.Imports {
			if isStd(imp) {
				continue
			}
			ok := false
			for _, a := range r.allowed {
				if imp == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a)) || strings.HasPrefix(imp, a+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow", r.pkg, imp)
			}
		}
	}
}

// TestGnetOnlyInTransports keeps the network library behind the transports.
func TestGnetOnlyInTransports(t *testing.T) {
	dir := root(t)
	for _, pkg := range packages(t, dir) {
		p, err := build.ImportDir(filepath.Join(dir, pkg), 0)
		if err != nil {
			continue // a directory of test files only
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/panjf2000/gnet") && !strings.HasPrefix(pkg, "transport/") {
				t.Errorf("%s imports gnet; only transport/... may", pkg)
			}
			if pkg == "transport/tcp" && strings.HasPrefix(imp, module+"/transport/udp") ||
				pkg == "transport/udp" && strings.HasPrefix(imp, module+"/transport/tcp") {
				t.Errorf("%s imports the other transport", pkg)
			}
		}
	}
}

// TestPackageDocs requires exactly one package doc comment per package.
func TestPackageDocs(t *testing.T) {
	dir := root(t)
	fset := token.NewFileSet()
	for _, pkg := range packages(t, dir) {
		pkgs, err := parser.ParseDir(fset, filepath.Join(dir, pkg), func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for name, p := range pkgs {
			docs := 0
			for _, f := range p.Files {
				if f.Doc != nil && len(strings.TrimSpace(f.Doc.Text())) > 0 {
					docs++
				}
			}
			if docs != 1 {
				t.Errorf("package %s (%s) has %d doc comments, want 1", name, pkg, docs)
			}
		}
	}
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
