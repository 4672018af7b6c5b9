package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A seccomp filter cannot be loaded without no_new_privs by a process without CAP_SYS_ADMIN, and the
// command never has it: such a policy is refused when compiled, with one line naming both and the fix,
// instead of passing `policy check` and failing every run at exec.
func TestSeccompNeedsNoNewPrivs(t *testing.T) {
	for _, src := range []string{
		`{"version": 1, "process": {"unsafe": true, "no_new_privs": false}, "seccomp": {"default_action": "allow"}}`,
		`{"version": 1, "extends": "strict", "process": {"unsafe": true, "no_new_privs": false}}`,
		`{"version": 1, "process": {"no_new_privs": false}, "seccomp": {"default_action": "allow"}}`,
	} {
		_, err := Compile(mustParse(t, src))
		var inv *InvalidError
		if !errors.As(err, &inv) || len(inv.Problems) != 1 {
			t.Fatalf("%s: want one problem, got %v", src, err)
		}
		p := inv.Problems[0]
		if p.Path != "process.no_new_privs" || !strings.Contains(p.Msg, "seccomp") || !strings.Contains(p.Msg, "set process.no_new_privs to true") || strings.Contains(p.String(), "\n") {
			t.Errorf("%s: problem = %q", src, p)
		}
	}
	// Without a filter, an unsafe policy may still turn it off.
	if s := mustCompile(t, `{"version": 1, "process": {"unsafe": true, "no_new_privs": false}}`); s.Process.NoNewPrivs {
		t.Error("no_new_privs stayed on")
	}
}

// Every errno name x/sys knows is accepted (errno(ENOLINK) was refused while errno(67) worked), aliases
// included, and explanations name the value.
func TestErrnoNames(t *testing.T) {
	for name, want := range map[string]uint16{"ENOLINK": 67, "EPERM": 1, "EWOULDBLOCK": 11, "EDEADLOCK": 35,
		"ENOTSUP": 95, "EOPNOTSUPP": 95, "EHWPOISON": 133, "ETIMEDOUT": 110, "EUCLEAN": 117} {
		a, msg := parseAction("errno(" + name + ")")
		if msg != "" || a.Kind != ActErrno || a.Errno != want {
			t.Errorf("errno(%s) = %+v %q, want %d", name, a, msg, want)
		}
	}
	for _, bad := range []string{"errno(EFOO)", "errno(E)", "errno(eperm)", "errno()"} {
		if _, msg := parseAction(bad); msg == "" {
			t.Errorf("%s accepted", bad)
		}
	}
	for n, want := range map[uint16]string{67: "errno(ENOLINK)", 11: "errno(EAGAIN)", 95: "errno(EOPNOTSUPP)", 41: "errno(41)", 4000: "errno(4000)"} {
		if got := ActionString(Action{Kind: ActErrno, Errno: n}); got != want {
			t.Errorf("ActionString(errno %d) = %s, want %s", n, got, want)
		}
	}
}

// A report cut at the cap says so, also when the checks that would have found more were skipped (a list
// checked by uniqueStrings stopped at exactly 200 lines, as if that were all).
func TestTooManyProblemsSaysSo(t *testing.T) {
	var rel []string
	set := map[string]int{}
	for i := 0; i < 250; i++ {
		rel = append(rel, fmt.Sprintf("rel%d", i))
		set[fmt.Sprintf("K%d", i)] = i
	}
	for _, tc := range []struct {
		name string
		doc  map[string]any
		want string
	}{
		// Not absolute: checked by uniqueStrings until the report is full, then skipped.
		{"skipped checks", map[string]any{"filesystem": map[string]any{"masked_paths": rel}}, "(the rest not checked)"},
		// Not strings: every one found, those past the cap counted.
		{"dropped", map[string]any{"process": map[string]any{"env": map[string]any{"set": set}}}, "(50 more not listed)"},
	} {
		tc.doc["version"] = 1
		src, _ := json.Marshal(tc.doc)
		_, err := Parse(src, "many.json")
		var inv *InvalidError
		if !errors.As(err, &inv) || len(inv.Problems) != maxProblems+1 {
			t.Fatalf("%s: want %d problems and a note, got %v", tc.name, maxProblems, err)
		}
		if last := inv.Problems[maxProblems].Msg; last != "too many problems; stopped after 200 "+tc.want {
			t.Errorf("%s: last line %q", tc.name, last)
		}
	}
}

// A parameter with an unknown type is one problem: its placeholder is declared, not "not declared".
func TestBadParamTypeIsOneProblem(t *testing.T) {
	_, err := Parse([]byte(`{"version": 1, "command": {"template": ["/usr/bin/x", "{f}"], "params": {"f": {"type": "file"}}}}`), "t.json")
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Problems) != 1 || inv.Problems[0].Path != "command.params.f.type" {
		t.Fatalf("want only the type problem, got %v", err)
	}
}

// "version": 1.0 is answered with the version this jailrun reads, not with the int64 range.
func TestVersionMessage(t *testing.T) {
	for _, v := range []string{"1.0", "1e0", "2", "-1", "99999999999999999999"} {
		_, err := Parse([]byte(`{"version": `+v+`}`), "t.json")
		if err == nil || !strings.Contains(err.Error(), "version: "+v+" is not supported (this jailrun reads version 1)") {
			t.Errorf("version %s: %v", v, err)
		}
	}
}

// A CPU number past the bound is named with the bound, not "is not a CPU list".
func TestCpusetBound(t *testing.T) {
	for _, v := range []string{"8192", "0-9000", "1,8192"} {
		_, err := Parse([]byte(`{"version": 1, "limits": {"cpuset": "`+v+`"}}`), "t.json")
		if err == nil || !strings.Contains(err.Error(), "0..8191") || strings.Contains(err.Error(), "is not a CPU list") {
			t.Errorf("cpuset %s: %v", v, err)
		}
	}
	if _, err := Parse([]byte(`{"version": 1, "limits": {"cpuset": "x"}}`), "t.json"); err == nil || !strings.Contains(err.Error(), "is not a CPU list") {
		t.Errorf("cpuset x: %v", err)
	}
	mustParse(t, `{"version": 1, "limits": {"cpuset": "8191"}}`)
}

// RLIMIT_SIGPENDING counts signals; explain printed it as bytes.
func TestExplainSigpendingIsACount(t *testing.T) {
	out := Explain(mustCompile(t, `{"version": 1, "limits": {"kernel": {"sigpending": 100}}}`))
	if !strings.Contains(out, "RLIMIT_SIGPENDING 100\n") {
		t.Errorf("explain:\n%s", out)
	}
}

// A FIFO named as a policy is refused at once: opening it for reading used to block until a writer came.
func TestReadPolicyFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.json")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadPolicy(p); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
			t.Errorf("LoadPolicy(FIFO) = %v", err)
		}
	case <-time.After(5 * time.Second):
		// Unblock the open so the goroutine ends.
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("LoadPolicy blocked on a FIFO")
	}
}
