package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's code blocks are checked, so that what a reader copies works:
//
//   - ```go: a whole program, compiled (and vetted) in a module of its own that requires this repository.
//     If it ends with an "// Output:" comment, it is run and its stdout must match.
//   - ```console: "$ command" lines (a trailing "\" continues a command, a here-document's lines are part of
//     it) run one after another in one shell,
//     in a fresh directory where bin/jailrun and jailrun are the binary under test; the lines after each
//     command must match what it printed (stdout and stderr together). In the expected text a line "..."
//     matches any number of lines and "..." inside a line any text; an expected line that is a JSON object
//     matches an actual JSON object of the same shape (the same keys, recursively, and value types).
//   - ```sh: run as one script with sh -e in such a directory; it must exit 0.
//   - ```json: must parse. ```text: diagrams and synopses, not code.
//
// A block that cannot run in CI is preceded by <!-- not-run: REASON -->; its subtest is skipped with the
// reason, so every run lists them. A block preceded by <!-- root-only: REASON --> runs as root and is
// skipped, with the reason, in the rootless lanes.
func TestReadmeCodeBlocks(t *testing.T) {
	blocks := readmeBlocks(t, "../README.md")
	if len(blocks) == 0 {
		t.Fatal("no code blocks found in README.md")
	}
	for _, b := range blocks {
		t.Run(fmt.Sprintf("line%d_%s", b.line, b.lang), func(t *testing.T) {
			if b.notRun != "" {
				t.Skipf("not-run (README.md:%d): %s", b.line, b.notRun)
			}
			if b.rootOnly != "" && os.Geteuid() != 0 {
				t.Skipf("root-only (README.md:%d): %s", b.line, b.rootOnly)
			}
			switch b.lang {
			case "go":
				checkGoBlock(t, b)
			case "console":
				checkConsoleBlock(t, b)
			case "sh":
				checkShBlock(t, b)
			case "json":
				if !json.Valid([]byte(b.text)) {
					t.Fatalf("README.md:%d: the json block does not parse", b.line)
				}
			case "text":
			default:
				t.Fatalf("README.md:%d: code block with language %q: use go, console, sh, json or text (so that it is checked)", b.line, b.lang)
			}
		})
	}
}

// The README names the Go version go.mod asks for.
func TestReadmeGoVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Go " + string(m[1]); !bytes.Contains(readme, []byte(want)) {
		t.Fatalf("README.md does not say %q (go.mod's go line)", want)
	}
}

// The README's first command works: `make demo` builds jailrun and runs the sample. It builds into a
// temporary BIN, so the binary this suite tests is not replaced under it.
func TestMakeDemo(t *testing.T) {
	requireRoot(t)
	needGoToolchain(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "make", "-C", "..", "demo", "BIN="+filepath.Join(t.TempDir(), "jailrun"))
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello from jailrun as sandbox") || !strings.Contains(string(out), `"status": "ok"`) {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
}

// needGoToolchain skips where the tests cannot build Go code: the rootless lanes (their user cannot use root's
// module cache, see Makefile e2e-rootless), the cgroup v2 VM (the host's /usr shared read-only, no module
// cache), or a machine without go in PATH. The main lane (make e2e, as root) has it.
func needGoToolchain(t *testing.T) string {
	t.Helper()
	switch {
	case rootlessLane():
		t.Skip("the rootless lane's user cannot run the Go toolchain (see Makefile e2e-rootless)")
	case inVM():
		t.Skip("the cgroup v2 VM has no Go module cache; the main lane builds the README's Go code")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not in PATH")
	}
	return goBin
}

type readmeBlock struct {
	line     int // of the opening fence
	lang     string
	text     string
	notRun   string
	rootOnly string
}

var (
	notRunMark   = regexp.MustCompile(`^<!-- not-run: (.+) -->$`)
	rootOnlyMark = regexp.MustCompile(`^<!-- root-only: (.+) -->$`)
)

func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	lines := strings.Split(string(data), "\n")
	lastText := "" // the last non-blank line outside a block
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			if strings.TrimSpace(l) != "" {
				lastText = strings.TrimSpace(l)
			}
			continue
		}
		b := readmeBlock{line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
		if m := notRunMark.FindStringSubmatch(lastText); m != nil {
			b.notRun = m[1]
		}
		if m := rootOnlyMark.FindStringSubmatch(lastText); m != nil {
			b.rootOnly = m[1]
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("README.md:%d: code block never closed", b.line)
		}
		b.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
		lastText = ""
	}
	return blocks
}

// readmeDir is a fresh working directory for shell blocks: bin/jailrun there, and jailrun in PATH, are the
// binary under test.
func readmeDir(t *testing.T) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(jailrunBin, filepath.Join(bin, "jailrun")); err != nil {
		t.Fatal(err)
	}
	for _, kv := range baseEnv() {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + bin + ":" + p
		}
		env = append(env, kv)
	}
	return dir, env
}

// shellCmd runs script with /bin/sh in its own process group, which is killed when the script ends or the
// context expires: a block that leaves something in the background (a server) cannot outlive its test.
func shellCmd(ctx context.Context, t *testing.T, dir string, env []string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "/bin/sh", args...)
	c.Dir, c.Env = dir, env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		if c.Process != nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	})
	return c
}

func checkShBlock(t *testing.T, b readmeBlock) {
	requirePrivileged(t)
	dir, env := readmeDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := shellCmd(ctx, t, dir, env, "-e", "-c", b.text)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("README.md:%d: sh block failed: %v\n%s", b.line, err, out)
	}
}

// consoleStep is one "$ command" of a console block and the output it shows.
type consoleStep struct {
	line int
	cmd  string
	want []string
}

var heredoc = regexp.MustCompile(`<<-?'?([A-Za-z_]+)'?`)

func parseConsole(b readmeBlock) ([]consoleStep, error) {
	var steps []consoleStep
	lines := strings.Split(strings.TrimSuffix(b.text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "$ ") {
			if len(steps) == 0 {
				return nil, fmt.Errorf("README.md:%d: console block must start with \"$ \"", b.line+1+i)
			}
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, l)
			continue
		}
		s := consoleStep{line: b.line + 1 + i, cmd: strings.TrimPrefix(l, "$ ")}
		for strings.HasSuffix(s.cmd, "\\") && i+1 < len(lines) {
			i++
			s.cmd += "\n" + lines[i]
		}
		// A here-document's lines belong to the command, up to its delimiter.
		if m := heredoc.FindStringSubmatch(s.cmd); m != nil {
			for i+1 < len(lines) {
				i++
				s.cmd += "\n" + lines[i]
				if lines[i] == m[1] {
					break
				}
			}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func checkConsoleBlock(t *testing.T, b readmeBlock) {
	requirePrivileged(t)
	steps, err := parseConsole(b)
	if err != nil {
		t.Fatal(err)
	}
	// One shell runs every step, so that a step can use what an earlier one made; a marker line separates
	// the outputs.
	marker := fmt.Sprintf("@@readme-step-%d@@", time.Now().UnixNano())
	var script strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&script, "echo '%s %d'\n%s\n", marker, i, s.cmd)
	}
	dir, env := readmeDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := shellCmd(ctx, t, dir, env, "-c", script.String())
	out, _ := c.CombinedOutput() // a command's own exit status is shown (or not) by the block itself
	got := map[int][]string{}
	cur := -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), marker+" %d", &n); err == nil {
			cur = n
			got[cur] = []string{}
			continue
		}
		if cur >= 0 {
			got[cur] = append(got[cur], sc.Text())
		}
	}
	for i, s := range steps {
		if !matchLines(s.want, got[i]) {
			t.Errorf("README.md:%d: $ %s\nREADME shows:\n%s\ngot:\n%s", s.line, s.cmd, strings.Join(s.want, "\n"), strings.Join(got[i], "\n"))
		}
	}
}

// matchLines matches actual output against the README's expected lines (see TestReadmeCodeBlocks).
func matchLines(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for k := 0; k <= len(got); k++ {
			if matchLines(want[1:], got[k:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && matchLine(want[0], got[0]) && matchLines(want[1:], got[1:])
}

func matchLine(want, got string) bool {
	if strings.HasPrefix(want, "{") && json.Valid([]byte(want)) {
		var w, g any
		if json.Unmarshal([]byte(want), &w) == nil && json.Unmarshal([]byte(got), &g) == nil {
			return sameShape(w, g)
		}
		return false
	}
	parts := strings.Split(want, "...")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

// sameShape: the same JSON type and, for objects, the same keys with values of the same shape; an array
// matches an array whose elements all have the shape of the expected first element.
func sameShape(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !sameShape(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok {
			return false
		}
		if len(w) == 0 {
			return true
		}
		for _, gv := range g {
			if !sameShape(w[0], gv) {
				return false
			}
		}
		return true
	case string:
		_, ok := got.(string)
		return ok
	case float64:
		_, ok := got.(float64)
		return ok
	case bool:
		_, ok := got.(bool)
		return ok
	case nil:
		return got == nil
	}
	return false
}

func checkGoBlock(t *testing.T, b readmeBlock) {
	goBin := needGoToolchain(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module readmeexample\n\ngo 1.26\n\nrequire github.com/jailrun/jailrun v0.0.0\n\nreplace github.com/jailrun/jailrun => " + repo + "\n"
	for name, content := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(b.text)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goCmd := func(args ...string) {
		t.Helper()
		c := exec.CommandContext(ctx, goBin, args...)
		// -mod=mod completes the example's go.mod from the repository's requirements; GOPROXY=off keeps it
		// to the module cache the repository's own build filled.
		c.Dir, c.Env = dir, append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("README.md:%d: go %s: %v\n%s", b.line, strings.Join(args, " "), err, out)
		}
	}
	goCmd("build", "-o", "example", ".")
	goCmd("vet", ".")

	_, want, ok := strings.Cut(b.text, "\n// Output:\n")
	if !ok {
		return
	}
	requirePrivileged(t)
	var expect []string
	for _, l := range strings.Split(strings.TrimSuffix(want, "\n"), "\n") {
		expect = append(expect, strings.TrimPrefix(strings.TrimPrefix(l, "//"), " "))
	}
	c := exec.CommandContext(ctx, filepath.Join(dir, "example"))
	c.Dir, c.Env = dir, baseEnv()
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("README.md:%d: the example failed: %v\n%s%s", b.line, err, out, stderr.Bytes())
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !matchLines(expect, got) {
		t.Fatalf("README.md:%d: the example printed\n%s\nthe README says\n%s", b.line, out, strings.Join(expect, "\n"))
	}
}
