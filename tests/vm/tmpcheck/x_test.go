package tmpcheck

import (
	"os"
	"os/exec"
	"testing"
)

func TestTools(t *testing.T) {
	for _, c := range []string{
		"python3 -c 'import sys; print(sys.version)'",
		"printf 'int main(){return 7;}' > $TMPDIR/a.c && gcc -o $TMPDIR/a $TMPDIR/a.c; $TMPDIR/a; echo rc=$?",
		"cc --version | head -1; awk 'BEGIN{print 1}'; id; cat /proc/self/cgroup; ls -l /bin/ls; file /bin/ls 2>/dev/null; ldd /bin/ls",
		"unshare -Ur id; echo unshare=$?",
	} {
		out, err := exec.Command("/bin/sh", "-c", c).CombinedOutput()
		t.Logf("%s\n%s err=%v", c, out, err)
	}
}

func TestLeak(t *testing.T) {
	exec.Command("/bin/sh", "-c", "setsid sleep 1000 </dev/null >/dev/null 2>&1 &").Run()
}

func TestFailRootless(t *testing.T) {
	if os.Getenv("JAILRUN_ROOTLESS") == "1" {
		t.Fatal("deliberate failure in the rootless pass")
	}
}
