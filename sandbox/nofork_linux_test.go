//go:build linux && cgo

package sandbox_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/jailrun/jailrun/sandbox"
)

// vmaAt returns the line of /proc/PID/maps (or, with smaps, the whole /proc/PID/smaps entry) whose range
// holds addr; "" when none does.
func vmaAt(t *testing.T, pid string, addr uintptr, smaps bool) string {
	t.Helper()
	name := "maps"
	if smaps {
		name = "smaps"
	}
	f, err := os.Open("/proc/" + pid + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entry []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		lo, hi, isRange := strings.Cut(strings.Fields(line + " x")[0], "-")
		if isRange {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				if in {
					break
				}
				in = uint64(addr) >= a && uint64(addr) < b
			}
		}
		if in {
			entry = append(entry, line)
		}
	}
	return strings.Join(entry, "\n")
}

// A sandbox's pid 1 is cloned from jailrun's process, but without its Go heap: with a copy of the heap, every
// page the Go runtime writes while a prepared sandbox waits would first be copied (and the TLBs of the
// other CPUs flushed), which cost a warm pool a fifth of its CPU. And the heap must still be copied by
// other forks: the mark is taken off after the clone.
func TestSandboxInitHasNoCopyOfTheGoHeap(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	heap := make([]byte, 4<<20)
	for i := range heap {
		heap[i] = byte(i)
	}
	addr := uintptr(unsafe.Pointer(&heap[0]))
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The pool prepares one sandbox beyond its size and waits to hand it over: once both are prepared, no
	// clone is under way (during one, the mark is there by design).
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Prepared < 2 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if p.Stats().Prepared < 2 {
		t.Fatalf("the pool did not prepare its sandboxes: %+v", p.Stats())
	}
	mine := vmaAt(t, "self", addr, true)
	if mine == "" {
		t.Fatalf("no mapping of this process holds the heap address %#x", addr)
	}
	if !strings.Contains(mine, "VmFlags:") {
		t.Skipf("this kernel's smaps has no VmFlags line")
	}
	for _, l := range strings.Split(mine, "\n") {
		if f, ok := strings.CutPrefix(l, "VmFlags:"); ok && strings.Contains(" "+f+" ", " dc ") {
			t.Errorf("the Go heap is still marked do-not-copy after the clone (other forks would lose it): %s", l)
		}
	}
	inits := 0
	for _, pid := range children(t) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "init" {
			continue
		}
		inits++
		if v := vmaAt(t, strconv.Itoa(pid), addr, false); v != "" {
			t.Errorf("the prepared sandbox's pid 1 (%d) maps the Go heap address %#x: %s", pid, addr, v)
		}
	}
	if inits == 0 {
		t.Fatal("found no prepared sandbox's pid 1 among this process's children")
	}
	// And the prepared sandbox runs its command.
	res, err := p.Run(context.Background(), shReq(strict, "echo fine"))
	if err != nil || !res.Pooled || res.Status != sandbox.StatusOK {
		t.Fatalf("pooled run: %v %+v", err, res)
	}
}
