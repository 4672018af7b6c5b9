//go:build linux && cgo

package sandbox

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/namespaces"
)

// The Go↔C contract of the launcher is written twice, in spawn_linux.h for the C child and in Go for the
// parent (namespaces.OpKind, the step codes launch_linux.go branches on, describe's step names). These
// tests read the header and hold the Go side to it in both directions, so neither can drift alone.

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// camel turns JR_OP_OPEN_SRC's tail (OPEN_SRC) into OpenSrc.
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(s), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func TestContractOpKinds(t *testing.T) {
	h := readFile(t, "spawn_linux.h")
	block := regexp.MustCompile(`(?s)enum jr_op_kind \{(.*?)\};`).FindStringSubmatch(h)
	if block == nil {
		t.Fatal("no enum jr_op_kind in spawn_linux.h")
	}
	names := regexp.MustCompile(`(?m)^\s*JR_OP_([A-Z_]+)\s*(?:=\s*(\d+))?,`).FindAllStringSubmatch(block[1], -1)
	goKinds := map[string]namespaces.OpKind{
		"OpenSrc": namespaces.OpOpenSrc, "Root": namespaces.OpRoot, "Bind": namespaces.OpBind, "Tmpfs": namespaces.OpTmpfs,
		"File": namespaces.OpFile, "Proc": namespaces.OpProc, "Dir": namespaces.OpDir, "Symlink": namespaces.OpSymlink,
		"Remount": namespaces.OpRemount, "Mask": namespaces.OpMask, "Pivot": namespaces.OpPivot,
		"Devpts": namespaces.OpDevpts,
	}
	// namespaces/plan.go must declare exactly the kinds listed here: count its Op* constants.
	plan := readFile(t, "../namespaces/plan.go")
	if n := len(regexp.MustCompile(`(?m)^\s*Op[A-Z][A-Za-z]*(?:\s+OpKind = iota \+ 1)?$`).FindAllString(plan, -1)); n != len(goKinds) {
		t.Errorf("namespaces/plan.go declares %d op kinds, this test knows %d: add the new kind here and to spawn_linux.h", n, len(goKinds))
	}
	if len(names) != len(goKinds) {
		t.Errorf("spawn_linux.h has %d op kinds, Go has %d", len(names), len(goKinds))
	}
	next := 0
	for _, m := range names {
		if m[2] != "" {
			next, _ = strconv.Atoi(m[2])
		}
		k, ok := goKinds[camel(m[1])]
		if !ok {
			t.Errorf("JR_OP_%s has no namespaces.Op%s", m[1], camel(m[1]))
		} else if int(k) != next {
			t.Errorf("JR_OP_%s is %d in C, namespaces.Op%s is %d", m[1], next, camel(m[1]), k)
		}
		next++
	}
}

func TestContractSteps(t *testing.T) {
	h := readFile(t, "spawn_linux.h")
	c := readFile(t, "spawn_linux.c") + readFile(t, "landlock_linux.c")
	g := readFile(t, "spawn_linux.go")
	steps := regexp.MustCompile(`(?m)^\s*JR_STEP_([A-Z_]+)\s*=\s*(-\d+),`).FindAllStringSubmatch(h, -1)
	if len(steps) == 0 {
		t.Fatal("no JR_STEP_* codes in spawn_linux.h")
	}
	codes := map[string]int{}
	seen := map[int]string{}
	for _, m := range steps {
		n, _ := strconv.Atoi(m[2])
		if other, dup := seen[n]; dup {
			t.Errorf("JR_STEP_%s and JR_STEP_%s share the code %d", m[1], other, n)
		}
		seen[n], codes[m[1]] = m[1], n
		// Every code is reported by the child (an unused code is a step whose failures are named wrongly)...
		if !regexp.MustCompile(`(die|report)\(c, JR_STEP_` + m[1] + `\b`).MatchString(c) {
			t.Errorf("JR_STEP_%s is never reported by the C child: remove it, or use it where that step fails", m[1])
		}
		// ...and named by the parent, unless it is not an error.
		if m[1] != "NOTIFY_FD" && m[1] != "BOX_FD" && !strings.Contains(g, "C.JR_STEP_"+m[1]) {
			t.Errorf("JR_STEP_%s has no case in childError.describe: its failures would read \"step %d\"", m[1], n)
		}
	}
	// The codes launch_linux.go spells out (it is not a cgo file) must be the header's.
	for name, goVal := range map[string]int{"EXEC_NOT_FOUND": jrStepExecNotFound, "EXEC": jrStepExec,
		"NOT_ALLOWED": jrStepNotAllowed, "NOTIFY_FD": jrStepNotifyFD, "BOX_FD": jrStepBoxFD} {
		if codes[name] != goVal {
			t.Errorf("JR_STEP_%s is %d in spawn_linux.h and %d in launch_linux.go", name, codes[name], goVal)
		}
	}
}
