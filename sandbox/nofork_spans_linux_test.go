//go:build linux && cgo

package sandbox

import (
	"reflect"
	"testing"
)

// dropSpans decides which of jailrun's mappings the sandbox's pid 1 is cloned without. A mapping wrongly
// dropped is memory the child's C code then faults on, so the rules are pinned here on a process's real
// shape (a cgo binary: its bss, the Go heap, malloc arenas, thread stacks, the dynamic linker's pages).
func TestDropSpans(t *testing.T) {
	const maps = `00400000-00403000 r--p 00000000 fe:00 9979611 /usr/local/bin/jailrun
00acf000-00b30000 rw-p 006ce000 fe:00 9979611 /usr/local/bin/jailrun
00b30000-02bb3000 rw-p 00000000 00:00 0
38882000-388a3000 rw-p 00000000 00:00 0                          [heap]
12c6bc000000-12c6be800000 ---p 00000000 00:00 0
12c6be800000-12c6bec00000 rw-p 00000000 00:00 0
12c6bec00000-12c6c0000000 ---p 00000000 00:00 0
7f793c000000-7f793c021000 rw-p 00000000 00:00 0
7f793c021000-7f7940000000 ---p 00000000 00:00 0
7f79508bc000-7f79508bd000 ---p 00000000 00:00 0
7f79508bd000-7f79510bd000 rw-p 00000000 00:00 0
7f79510bd000-7f79510be000 ---p 00000000 00:00 0
7f79510be000-7f79518be000 rw-p 00000000 00:00 0
7f79518be000-7f79519be000 rw-s 00000000 00:01 1234             /dev/zero (deleted)
7f79519be000-7f7951a00000 rw-p 00000000 00:00 0
7f7966f8d000-7f7966f8e000 rw-p 00000000 00:00 0
7f7966f8e000-7f7986f8d000 ---p 00000000 00:00 0
7f799935d000-7f79993c0000 rw-p 00000000 00:00 0
7f79993c0000-7f79993e6000 r--p 00000000 fe:00 326269 /usr/lib/x86_64-linux-gnu/libc.so.6
7f7999593000-7f7999595000 rw-p 001d3000 fe:00 326269 /usr/lib/x86_64-linux-gnu/libc.so.6
7f7999595000-7f79995a2000 rw-p 00000000 00:00 0
7f79995cb000-7f79995cd000 rw-p 00000000 00:00 0
7f79995cd000-7f79995d1000 r--p 00000000 00:00 0                  [vvar]
7ffe95159000-7ffe9517a000 rw-p 00000000 00:00 0                  [stack]
`
	keep := []uintptr{
		0x7f79510be000 + 100, // the cloning thread's stack
		0x7f799935d000 + 8,   // its TLS
	}
	got := dropSpans([]byte(maps), keep)
	want := []forkSpan{
		// The Go heap with its reservations, a malloc arena, another thread's stack with its guard pages:
		// one run, holes and all, up to the kept stack.
		{0x12c6bc000000, 0x7f79510be000},
		// After the shared mapping: the Go runtime's own memory, then a reservation; the page between them
		// is small and kept.
		{0x7f79519be000, 0x7f7951a00000},
		{0x7f7966f8e000, 0x7f7986f8d000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dropSpans:\n got %x\nwant %x", got, want)
	}
	// Never dropped: the binary's and libc's bss (anonymous, right after their files' data), [heap], [stack],
	// shared memory, the small pages, and whatever holds a kept address.
	for _, s := range got {
		for _, a := range append(keep, 0x00b30000, 0x7f7999595000, 0x38882000, 0x7ffe95159000, 0x7f79518be000,
			0x7f7966f8d000, 0x7f79995cb000) {
			if a >= s.lo && a < s.hi {
				t.Errorf("span %x-%x drops %x", s.lo, s.hi, a)
			}
		}
	}
	// Lines it cannot parse end a run and drop nothing.
	if got := dropSpans([]byte("garbage\n7f793c000000-7f793c021000 rw-p 0 00:00 x\n"), nil); len(got) != 0 {
		t.Errorf("unparsable lines: %x", got)
	}
}
