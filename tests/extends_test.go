package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A policy that extends a list combines its parents: compile's writable /box and network-loopback's
// sockets, in one run. Neither parent alone has both.
func TestExtendsListRun(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	p := filepath.Join(t.TempDir(), "combo.json")
	if err := os.WriteFile(p, []byte(`{"version": 1, "name": "combo", "extends": ["compile", "network-loopback"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.sendall(b"hi"); print(a.recv(2).decode())
open("/box/out", "w").write("x"); print(open("/box/out").read())`
	for _, tc := range []struct {
		policy string
		want   string
	}{
		{p, "hi\nx\n"},
		{"compile", ""},
		{"network-loopback", ""},
	} {
		r := jailrun(t, []string{"--quiet", "--policy", tc.policy, "--", "/usr/bin/python3", "-c", script})
		if tc.want != "" && (r.code != 0 || r.stdout != tc.want) {
			t.Errorf("%s: %v", tc.policy, r)
		}
		if tc.want == "" && r.code == 0 {
			t.Errorf("%s alone ran it: the test cannot tell the combination from either parent\n%v", tc.policy, r)
		}
	}
	out := jailrun(t, []string{"policy", "explain", p})
	if !strings.Contains(out.stdout, "extends builtin:strict -> builtin:compile -> builtin:network-loopback -> "+p) {
		t.Errorf("policy explain does not show the order:\n%s", out.stdout)
	}
}
