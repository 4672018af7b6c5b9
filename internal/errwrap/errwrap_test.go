package errwrap

import (
	"encoding/json"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

type listed struct {
	ImportPath      string
	Dir             string
	Export          string
	CompiledGoFiles []string
	Standard        bool
	Module          *struct{ Main bool }
}

// Typed errors must reach library callers (the house style: errors wrap with %w). fmt.Errorf with %v or
// %s flattens an error to text, so errors.Is(err, fs.ErrPermission) or errors.As(err, &ue) is false for
// whoever gets it. This type-checks every package of the module, cgo's output included, against the
// compiler's export data and reports each error-typed argument of fmt.Errorf whose verb is not %w.
func TestErrorsWrapWithW(t *testing.T) {
	goTool := testenv.GoTool(t)
	cmd := exec.Command(goTool, "list", "-e", "-export", "-compiled", "-deps",
		"-json=ImportPath,Dir,Export,CompiledGoFiles,Standard,Module", "github.com/jailrun/jailrun/...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	var mine []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Main {
			mine = append(mine, p)
		}
	}
	if len(mine) < 10 {
		t.Fatalf("go list found only %d packages of this module", len(mine))
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})
	for _, p := range mine {
		var files []*ast.File
		for _, name := range p.CompiledGoFiles {
			if !filepath.IsAbs(name) {
				name = filepath.Join(p.Dir, name)
			}
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp, Error: func(error) {}}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Errorf("%s: type-checking: %v", p.ImportPath, err)
			continue
		}
		for _, f := range files {
			for _, bad := range unwrapped(info, f) {
				t.Errorf("%s: an error formatted with %s: use %%w so that callers can unwrap it", fset.Position(bad.pos), bad.verb)
			}
		}
	}
}

type finding struct {
	pos  token.Pos
	verb string
}

var verbRe = regexp.MustCompile(`%[-+# 0-9.*]*(\[\d+\])?[a-zA-Z%]`)

var errorType = types.Universe.Lookup("error").Type().Underlying().(*types.Interface)

// unwrapped finds the fmt.Errorf arguments of type error formatted with a verb other than %w.
func unwrapped(info *types.Info, f *ast.File) []finding {
	var out []finding
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		fn, ok := info.Uses[sel.Sel].(*types.Func)
		if !ok || fn.Pkg() == nil || fn.Pkg().Path() != "fmt" || fn.Name() != "Errorf" {
			return true
		}
		format := info.Types[call.Args[0]].Value
		if format == nil || format.Kind() != constant.String {
			return true
		}
		var verbs []string
		for _, v := range verbRe.FindAllString(constant.StringVal(format), -1) {
			if v != "%%" {
				verbs = append(verbs, v)
			}
		}
		for i, a := range call.Args[1:] {
			if i >= len(verbs) {
				break
			}
			if t := info.TypeOf(a); t != nil && types.Implements(t, errorType) && !strings.HasSuffix(verbs[i], "w") {
				out = append(out, finding{a.Pos(), verbs[i]})
			}
		}
		return true
	})
	return out
}
