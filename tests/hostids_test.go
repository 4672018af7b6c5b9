package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// sandboxHostUID is the host uid of the first sandboxed process (not jailrun itself, which is root) whose
// command line contains marker, provided that uid also owns the process's user namespace.
func sandboxHostUID(marker string) (uint32, bool) {
	for _, p := range procsMatching(marker) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
				if n, _ := strconv.ParseUint(f[1], 10, 32); n != 0 {
					if owner, err := usernsOwner(p); err != nil || owner != uint32(n) {
						// The user namespace must belong to the sandbox's own uid, never to root.
						return 0, false
					}
					return uint32(n), true
				}
			}
		}
	}
	return 0, false
}

// Concurrent runs, from independent jailrun processes, never share host ids.
func TestConcurrentRunsGetDistinctHostIDs(t *testing.T) {
	requireRoot(t)
	n := 50
	if inVM() {
		n = 8 // the same proof at a size the emulated guest runs in seconds
	}
	// A barrier: every sandbox waits until all n are running, so that they are all alive at once.
	bar, err := os.MkdirTemp("", "jailrun-barrier-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bar) })
	os.Chmod(bar, 0o777)
	pol := policyFile(t, fmt.Sprintf(`"limits": {"wall_time": "60s"}, "filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/bar", "readonly": false}]}`, bar))
	script := fmt.Sprintf(`touch /bar/$1; i=0; while set -- /bar/*; [ $# -lt %d ] && [ $i -lt 200 ]; do sleep 0.2; i=$((i+1)); done`, n)
	var wg sync.WaitGroup
	runs := make([]run, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", script, "sh", strconv.Itoa(i)})
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i, r := range runs {
		enf, _ := r.result["enforced"].(map[string]any)
		if r.code != 0 || enf["id_map"] != "allocated" {
			t.Fatalf("run %d: %v id_map %v", i, r, enf["id_map"])
		}
		uid, gid := fmt.Sprint(enf["host_uid"]), fmt.Sprint(enf["host_gid"])
		if uid != gid {
			t.Errorf("run %d: host uid %s, gid %s", i, uid, gid)
		}
		if j, dup := seen[uid]; dup {
			t.Errorf("runs %d and %d, alive at the same time, both had host uid %s", j, i, uid)
		}
		seen[uid] = i
	}
	if ents, _ := os.ReadDir(bar); len(ents) != n {
		t.Errorf("%d of %d sandboxes reached the barrier", len(ents), n)
	}
}

// The ids of SIGKILLed jailrun processes are free again at once: a range just big enough for the killed
// runs serves as many new ones, nothing of the killed runs survives (process, lock, cgroup), and a run that
// finds every id of its range in use is refused.
func TestHostIDsFreedAfterSigkill(t *testing.T) {
	requireRoot(t)
	const k = 4
	rg := "3000000000-3000000003"
	marker := "7319.5"
	var cmds []*exec.Cmd
	var pids []int
	for i := range k {
		c := jailrunCmd(context.Background(), "--host-id-range", rg, "--", "/bin/sleep", marker+strconv.Itoa(i))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
		pids = append(pids, c.Process.Pid)
	}
	uids := map[uint32]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < k && time.Now().Before(deadline); {
		if uid, ok := sandboxHostUID("sleep " + marker + strconv.Itoa(i)); ok {
			uids[uid] = true
			i++
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(uids) != k {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		t.Fatalf("want %d distinct host uids in %s, got %v", k, rg, uids)
	}
	full := jailrun(t, []string{"--host-id-range", rg, "--", "/bin/true"})
	if full.code != 125 || !strings.Contains(full.stderr, "in use") {
		t.Errorf("with every id of %s in use: want exit 125 naming it, got %v", rg, full)
	}
	var stale []string
	for _, p := range pids {
		stale = append(stale, cgroupsMatching(t, fmt.Sprintf(".%d.", p))...)
	}
	for _, c := range cmds {
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
	}
	for i := range k {
		waitGone(t, "sleep "+marker+strconv.Itoa(i), 5*time.Second)
	}
	for uid := range uids {
		path := filepath.Join("/run/jailrun/ids", strconv.FormatUint(uint64(uid), 10))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			continue // gone: free
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Errorf("host id %d still locked after its jailrun was killed: %v", uid, err)
		}
		f.Close()
	}
	// All k ids serve k new concurrent runs.
	var wg sync.WaitGroup
	again := make([]run, k)
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again[i] = jailrun(t, []string{"--host-id-range", rg, "--", "/bin/sleep", "1"})
		}()
	}
	wg.Wait()
	for i, r := range again {
		enf, _ := r.result["enforced"].(map[string]any)
		uid, _ := enf["host_uid"].(float64)
		if r.code != 0 || !uids[uint32(uid)] {
			t.Errorf("run %d after the kill: %v host_uid %v", i, r, enf["host_uid"])
		}
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("cgroup %s of a killed run survived", p)
		}
	}
}

// usernsOwner is the host uid that owns pid's user namespace (ioctl NS_GET_OWNER_UID).
func usernsOwner(pid int) (uint32, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var uid uint32
	const nsGetOwnerUID = 0xb704
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), nsGetOwnerUID, uintptr(unsafe.Pointer(&uid))); e != 0 {
		return 0, e
	}
	return uid, nil
}

// A root without CAP_SETPCAP (some containers) cannot hand the user namespace to the run's uid: the run
// still has ids of its own, and the result says that root owns the namespace.
func TestUsernsOwnerFallbackIsReported(t *testing.T) {
	requireRoot(t)
	needSetpriv(t)
	res := filepath.Join(t.TempDir(), "r.json")
	c := exec.Command("setpriv", "--bounding-set=-setpcap", "--", jailrunBin, "--result", res, "--", "/bin/true")
	c.Env = baseEnv()
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	_ = c.Run()
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatalf("no result: %v %s", err, errb.String())
	}
	if !strings.Contains(string(b), `"id_map": "allocated"`) || !strings.Contains(string(b), "owned by root") {
		t.Fatalf("want id_map allocated and an id_note saying root owns the user namespace: %s", b)
	}
}
