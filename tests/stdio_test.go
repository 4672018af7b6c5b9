package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The child never gets the caller's own open file description for its stdio: a stdin opened for reading
// and writing (<>) reaches it read-only, so it cannot write back into the host file outside every limit
// and record; an output file opened for both reaches it write-only, so it cannot read back what was
// there. Two runs reading one redirected file still read on from each other, as with a shared offset.
func TestStdioIsNotTheCallersDescriptor(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("orig\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(target, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := jailrunCmd(context.Background(), "--quiet", "--", "/bin/sh", "-c", "echo WRITTEN >&0 2>/dev/null; cat")
	c.Stdin = f
	out, _ := c.Output()
	if b, _ := os.ReadFile(target); string(b) != "orig\n" || string(out) != "orig\n" {
		t.Errorf("stdin opened read-write: the file holds %q after the run (want it unchanged), the command read %q", b, out)
	}

	// An output file opened read-write, under a policy without output limits (so not relayed): strict
	// without its limits.output.
	var strict map[string]any
	b, err := os.ReadFile("../policies/strict.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &strict); err != nil {
		t.Fatal(err)
	}
	delete(strict["limits"].(map[string]any), "output")
	strict["name"] = "no-output-limits"
	pol := filepath.Join(dir, "no-output-limits.json")
	if b, err = json.Marshal(strict); err != nil || os.WriteFile(pol, b, 0o644) != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out")
	if err := os.WriteFile(outPath, []byte("SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	of, err := os.OpenFile(outPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	c = jailrunCmd(context.Background(), "--quiet", "--policy", pol, "--", "/bin/sh", "-c", "cat <&1 >&2; echo x")
	c.Stdout = of
	var errb strings.Builder
	c.Stderr = &errb
	_ = c.Run()
	if strings.Contains(errb.String(), "SECRET") {
		t.Errorf("the command read back its output file's contents through stdout: %q", errb.String())
	}

	// Offsets are shared back: two runs reading one redirected file read on from each other.
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, []byte("l1\nl2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inf, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer inf.Close()
	var got []string
	for range 2 {
		c := jailrunCmd(context.Background(), "--quiet", "--", "/bin/sh", "-c", "read a; echo $a")
		c.Stdin = inf
		b, err := c.Output()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(string(b)))
	}
	if strings.Join(got, ",") != "l1,l2" {
		t.Errorf("two runs on one stdin read %q, want l1 then l2", got)
	}
}
