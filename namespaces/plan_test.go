package namespaces

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
)

var update = flag.Bool("update", false, "rewrite the golden mount plans in testdata/plan")

// render prints a plan one op a line, the form the golden files hold: what the C child will mount, as
// root in its namespace, for each shipped policy. A change to a plan shows up as a diff to review.
func render(p *Plan) string {
	kinds := map[childabi.OpKind]string{childabi.OpOpenSrc: "open-src", childabi.OpRoot: "root", childabi.OpBind: "bind", childabi.OpTmpfs: "tmpfs", childabi.OpFile: "file",
		childabi.OpProc: "proc", childabi.OpDir: "dir", childabi.OpSymlink: "symlink", childabi.OpRemount: "remount", childabi.OpMask: "mask", childabi.OpPivot: "pivot",
		childabi.OpDevpts: "devpts"}
	var b strings.Builder
	fmt.Fprintf(&b, "slots %d\n", p.Slots)
	for _, op := range p.Ops {
		fmt.Fprintf(&b, "%-8s slot=%d src=%q dst=%q data=%q flags=%#x mode=%#o rec=%v opt=%v content=%d what=%q\n",
			kinds[op.Kind], op.Slot, op.Src, op.Dst, op.Data, op.Flags, op.Mode, op.Recursive, op.Optional, len(op.Content), op.What)
	}
	return b.String()
}

func TestBuildPlanGolden(t *testing.T) {
	for _, name := range policy.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			s, err := policy.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			p, err := BuildPlan(s.Filesystem)
			if err != nil {
				t.Fatal(err)
			}
			checkPlanInvariants(t, p)
			got := render(p)
			testenv.Golden(t, filepath.Join("testdata", "plan", name+".golden"), got, *update,
				"the mount plan of "+name, "go test ./namespaces -run TestBuildPlanGolden -update")
		})
	}
}

// checkPlanInvariants holds for every plan, whatever the policy: bind sources are all opened on the host's
// view before the root tmpfs covers it, each bind uses a slot that was opened, nothing is mounted after the
// root is made read-only, and pivot_root is last.
func checkPlanInvariants(t *testing.T, p *Plan) {
	t.Helper()
	opened := map[int]bool{}
	rootAt, roAt := -1, -1
	for i, op := range p.Ops {
		switch op.Kind {
		case childabi.OpOpenSrc:
			if rootAt >= 0 {
				t.Errorf("op %d opens %s after the root tmpfs covered the host's view", i, op.Src)
			}
			opened[op.Slot] = true
		case childabi.OpRoot:
			rootAt = i
		case childabi.OpBind:
			if !opened[op.Slot] {
				t.Errorf("op %d binds slot %d, which no open-src op opened", i, op.Slot)
			}
			if op.Slot >= p.Slots {
				t.Errorf("op %d uses slot %d of %d", i, op.Slot, p.Slots)
			}
		case childabi.OpRemount:
			if op.Dst == "" || op.Dst == "." {
				roAt = i
			}
		case childabi.OpPivot:
			if i != len(p.Ops)-1 {
				t.Errorf("pivot_root is op %d of %d, not last", i, len(p.Ops))
			}
		default:
			if roAt >= 0 && op.Kind != childabi.OpMask {
				t.Errorf("op %d (%s) comes after the root was made read-only", i, op.What)
			}
		}
	}
	if rootAt < 0 || len(p.Ops) == 0 || p.Ops[len(p.Ops)-1].Kind != childabi.OpPivot {
		t.Errorf("a plan needs a root tmpfs and ends with pivot_root")
	}
}
