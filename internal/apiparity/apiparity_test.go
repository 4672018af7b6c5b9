package apiparity

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The builds `make vet` compiles: the full Linux one, Linux without cgo (no libseccomp, no launcher) and
// macOS, where a developer or a CI job may build a client of the library.
var targets = []struct {
	name string
	goos string
	cgo  bool
}{
	{"linux", "linux", true},
	{"linux/nocgo", "linux", false},
	{"darwin", "darwin", false},
}

// allowed are differences that are the same API in substance, each with the reason.
var allowed = map[string]string{
	"seccomp: type SockFilter = unix.SockFilter":                                 sockFilter,
	"seccomp: type SockFilter struct { Code uint16 Jt uint8 Jf uint8 K uint32 }": sockFilter,
}

const sockFilter = "x/sys's struct sock_filter on Linux (Instructions go straight into unix.SockFprog); " +
	"elsewhere, where x/sys has none, a struct with the same fields"

// The library's exported API must be the same in every build: a caller that compiles on Linux must compile
// on macOS too, and learn at run time (an ErrUnsupported-wrapped error) what the platform cannot do, not
// from a build failure. Linux-only code lives in *_linux.go; whatever it exports needs a stub elsewhere.
func TestExportedAPIIsTheSameOnEveryOS(t *testing.T) {
	root := moduleRoot(t)
	pkgs := publicPackages(t, root)
	if len(pkgs) < 8 {
		t.Fatalf("found only %d packages under %s: %v", len(pkgs), root, pkgs)
	}
	for _, dir := range pkgs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			apis := make([]map[string]bool, len(targets))
			for i, tg := range targets {
				apis[i] = exportedAPI(t, dir, tg.goos, tg.cgo)
			}
			report := func(a, b int) {
				for _, d := range diff(apis[a], apis[b]) {
					if allowed[filepath.ToSlash(rel)+": "+d] == "" {
						t.Errorf("only in %s, not in %s: %s", targets[a].name, targets[b].name, d)
					}
				}
			}
			for i := 1; i < len(targets); i++ {
				report(0, i)
				report(i, 0)
			}
		})
	}
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// publicPackages lists the directories of the importable, non-main packages: what a library caller sees.
// internal/, the test suites, benchmarks and fuzz harnesses are nobody's API.
func publicPackages(t *testing.T, root string) []string {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root {
			switch name := d.Name(); {
			case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"),
				name == "testdata", name == "internal", name == "bin":
				return filepath.SkipDir
			}
			rel, _ := filepath.Rel(root, path)
			switch filepath.ToSlash(rel) {
			case "tests", "bench", "fuzz", "cmd", "deploy", "docs":
				return filepath.SkipDir
			}
		}
		ctx := build.Default
		ctx.GOOS, ctx.CgoEnabled = "linux", true
		p, err := ctx.ImportDir(path, 0)
		if err != nil || p.Name == "main" {
			return nil // no Go files, or a command
		}
		dirs = append(dirs, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// exportedAPI returns one line per exported declaration of the package in dir as built for goos with or
// without cgo: functions and methods with their signatures, types with their exported fields and methods,
// constants and variables with their declared types. Values and doc comments may differ between builds.
func exportedAPI(t *testing.T, dir, goos string, cgo bool) map[string]bool {
	ctx := build.Default
	ctx.GOOS, ctx.CgoEnabled = goos, cgo
	p, err := ctx.ImportDir(dir, 0)
	if err != nil {
		t.Fatalf("%s for %s (cgo %v): %v", dir, goos, cgo, err)
	}
	files := append(slices.Clone(p.GoFiles), p.CgoFiles...)
	fset := token.NewFileSet()
	api := map[string]bool{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				recv := ""
				if d.Recv != nil {
					if !ast.IsExported(receiverBase(d.Recv.List[0].Type)) {
						continue // a method of an unexported type is reachable only through an interface
					}
					recv = "(" + render(fset, d.Recv.List[0].Type) + ") "
				}
				api["func "+recv+d.Name.Name+strings.TrimPrefix(render(fset, unnamed(d.Type)), "func")] = true
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							api["type "+s.Name.Name+typeParams(fset, s)+assign(s)+render(fset, exportedOnly(s.Type))] = true
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								typ := ""
								if s.Type != nil {
									typ = " " + render(fset, s.Type)
								}
								api[d.Tok.String()+" "+n.Name+typ] = true
							}
						}
					}
				}
			}
		}
	}
	return api
}

func receiverBase(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

func typeParams(fset *token.FileSet, s *ast.TypeSpec) string {
	if s.TypeParams == nil {
		return ""
	}
	var params []string
	for _, f := range s.TypeParams.List {
		var names []string
		for _, n := range f.Names {
			names = append(names, n.Name)
		}
		params = append(params, strings.Join(names, ", ")+" "+render(fset, f.Type))
	}
	return "[" + strings.Join(params, ", ") + "]"
}

func assign(s *ast.TypeSpec) string {
	if s.Assign.IsValid() {
		return " = "
	}
	return " "
}

// unnamed drops a signature's parameter and result names: they are documentation, not API.
func unnamed(ft *ast.FuncType) *ast.FuncType {
	strip := func(l *ast.FieldList) *ast.FieldList {
		if l == nil {
			return nil
		}
		out := &ast.FieldList{}
		for _, f := range l.List {
			for range max(1, len(f.Names)) {
				out.List = append(out.List, &ast.Field{Type: f.Type})
			}
		}
		return out
	}
	return &ast.FuncType{TypeParams: ft.TypeParams, Params: strip(ft.Params), Results: strip(ft.Results)}
}

// exportedOnly drops a struct's unexported fields: they are the implementation, free to differ by OS.
func exportedOnly(e ast.Expr) ast.Expr {
	st, ok := e.(*ast.StructType)
	if !ok {
		return e
	}
	fields := &ast.FieldList{}
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 { // embedded: exported if its type name is
			if ast.IsExported(receiverBase(f.Type)) {
				fields.List = append(fields.List, &ast.Field{Type: f.Type, Tag: f.Tag})
			}
			continue
		}
		for _, n := range f.Names {
			if n.IsExported() {
				fields.List = append(fields.List, &ast.Field{Names: []*ast.Ident{n}, Type: f.Type, Tag: f.Tag})
			}
		}
	}
	return &ast.StructType{Fields: fields}
}

// render prints a node on one line (printer leaves comments out of anything but a file), so that layout
// does not count.
func render(fset *token.FileSet, n ast.Node) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, n); err != nil {
		panic(fmt.Sprint(err))
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// The check must see a function or a method that exists on Linux only, and nothing else: unexported
// fields, bodies and parameter names may differ.
func TestCheckerSeesLinuxOnlyAPI(t *testing.T) {
	linux := exportedAPI(t, filepath.Join("testdata", "drift"), "linux", true)
	darwin := exportedAPI(t, filepath.Join("testdata", "drift"), "darwin", false)
	got := diff(linux, darwin)
	want := []string{"func (*Box) Extra(int)", "func OnlyOnLinux()"}
	if !slices.Equal(got, want) {
		t.Errorf("only on linux: %q, want %q", got, want)
	}
	if extra := diff(darwin, linux); len(extra) != 0 {
		t.Errorf("only on darwin: %q, want none", extra)
	}
	if !darwin["type Box struct { Name string }"] {
		t.Errorf("Box not listed with its exported field only: %q", slices.Sorted(maps.Keys(darwin)))
	}
}
