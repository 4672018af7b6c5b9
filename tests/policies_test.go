package tests

import (
	"os"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

// Every shipped policy runs a real program of the kind it is for.
func TestShippedPolicies(t *testing.T) {
	requirePrivileged(t)
	have := func(p string) bool { _, err := os.Stat(p); return err == nil }
	for _, tc := range []struct {
		policy string
		needs  string
		argv   []string
		want   string
	}{
		{"strict", "", []string{"/bin/echo", "strict"}, "strict\n"},
		{"default", "", []string{"/bin/sh", "-c", "for i in 1 2 3; do echo $i; done | wc -l"}, "3\n"},
		{"compile", "/usr/bin/gcc", []string{"/bin/sh", "-c", `printf '#include <stdio.h>\nint main(void){puts("compiled");return 0;}\n' > a.c && gcc -O2 -o a.out a.c && ./a.out`}, "compiled\n"},
		{"interpreter", "/usr/bin/python3", []string{"/usr/bin/python3", "-c", "import json, hashlib; print(json.dumps({'h': hashlib.sha256(b'x').hexdigest()[:8]}))"}, `{"h": "2d711642"}` + "\n"},
		{"network-loopback", "/usr/bin/python3", []string{"/usr/bin/python3", "-c", `
import socket, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
def serve():
    c, _ = s.accept(); c.sendall(b"pong"); c.close()
threading.Thread(target=serve).start()
c = socket.create_connection(s.getsockname()); print(c.recv(4).decode())`}, "pong\n"},
		{"interactive", "", []string{"/bin/sh", "-c", "read x; echo got $x"}, "got\n"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			if tc.needs != "" && !have(tc.needs) {
				testenv.SkipOrFail(t, "needs %s", tc.needs)
			}
			r := jailrun(t, append([]string{"--policy", tc.policy, "--"}, tc.argv...))
			if r.code != 0 || r.stdout != tc.want {
				t.Fatalf("want %q, got %v\nresult: %v", tc.want, r, r.result)
			}
			if r.status() != "ok" {
				t.Fatalf("status %s", r.status())
			}
		})
	}
}

// The strict policy keeps the network closed even to a program that tries every family.
func TestStrictBlocksInet(t *testing.T) {
	requirePrivileged(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	r := jailrun(t, []string{"--", "/usr/bin/python3", "-c", `
import socket
for fam in (socket.AF_INET, socket.AF_INET6):
    try:
        socket.socket(fam, socket.SOCK_STREAM); print("opened", fam)
    except OSError as e:
        print("refused", e.errno)
`})
	if strings.Contains(r.stdout, "opened") || strings.Count(r.stdout, "refused") != 2 {
		t.Fatalf("inet sockets must be refused under strict: %v", r)
	}
}
