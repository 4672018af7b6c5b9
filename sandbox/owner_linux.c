// The user namespace of a sandbox is created by a thread of jailrun that, for the length of the clone,
// runs as the sandbox's allocated host uid and gid: the namespace's owner is then that uid, and the kernel
// charges its per-user budgets (inotify, pending signals, mqueue bytes, namespace counts) at the host level
// to it, not to root, which every other sandbox and the host itself share.
//
// Credentials are per thread in Linux; glibc's setresuid would change every thread of the process, so only
// raw system calls are used here, on the calling thread, which Go keeps for the whole cgo call. The thread
// keeps its capabilities meanwhile (SECBIT_NO_SETUID_FIXUP) so that it can switch back, and to switch
// back is not optional: a Go thread left with other credentials would run any goroutine with them, so a
// failure to restore aborts the process.
#define _GNU_SOURCE
#include "spawn_linux.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECBIT_NO_SETUID_FIXUP
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#endif

// The process's dumpable flag at start: changing a thread's effective uid resets it for the whole process
// (it belongs to the memory map), so it is put back after each switch.
static int initial_dumpable = -1;

__attribute__((constructor)) static void jr_owner_init(void) {
	initial_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

void jr_owner_enter(struct jr_config *c, struct jr_owner_saved *s) {
	s->active = 0;
	c->owner_err = 0;
	if (!c->own_userns)
		return;
	if (syscall(SYS_getresuid, &s->ruid, &s->euid, &s->suid) < 0 ||
	    syscall(SYS_getresgid, &s->rgid, &s->egid, &s->sgid) < 0) {
		c->owner_err = errno;
		return;
	}
	int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (bits < 0 || prctl(PR_SET_SECUREBITS, (unsigned long)(bits | SECBIT_NO_SETUID_FIXUP), 0, 0, 0) < 0) {
		c->owner_err = errno;
		return;
	}
	s->securebits = bits;
	s->active = 1;
	// gid first: once the uid has changed, the gid could only change through the kept capabilities anyway,
	// but this order needs nothing unusual.
	if (syscall(SYS_setresgid, c->owner_gid, c->owner_gid, c->owner_gid) < 0 ||
	    syscall(SYS_setresuid, c->owner_uid, c->owner_uid, c->owner_uid) < 0) {
		c->owner_err = errno;
		jr_owner_leave(s);
	}
}

void jr_owner_leave(struct jr_owner_saved *s) {
	if (!s->active)
		return;
	if (syscall(SYS_setresuid, s->ruid, s->euid, s->suid) < 0 || syscall(SYS_setresgid, s->rgid, s->egid, s->sgid) < 0 ||
	    prctl(PR_SET_SECUREBITS, (unsigned long)s->securebits, 0, 0, 0) < 0)
		abort();
	if (initial_dumpable == 1)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	s->active = 0;
}
