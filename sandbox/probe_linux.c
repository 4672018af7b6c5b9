// Namespace probes for jailrun doctor, the launcher's mode decision and naming what a failed clone could not
// create. The throw-away child shares the memory of a multi-threaded Go process (vfork-style) and makes only
// raw system calls before it exits.
#define _GNU_SOURCE
#include "probe_linux.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The probe's stack: the child shares this process's memory (CLONE_VM) and runs only the few calls below.
// Probes are serialised by the caller (ForkLock), so one stack serves them all.
static char probe_stack[64 * 1024] __attribute__((aligned(16)));

static int probe_child(void *arg) {
	unsigned long inner = *(unsigned long *)arg;
	long e = 0;
	if (inner && syscall(SYS_unshare, inner) < 0)
		e = errno;
	syscall(SYS_exit_group, e > 0 && e < 256 ? e : (e ? 255 : 0));
	return 0;
}

int jr_probe_ns(unsigned long outer, unsigned long inner) {
	// Signals blocked around the clone, as in jr_spawn: the child must never run a Go signal handler.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	// vfork-style: no copy of jailrun's address space (page tables and copy-on-write faults that cost more
	// than the namespaces themselves), and this thread waits until the child has exited. A new user
	// namespace may be cloned with CLONE_VM (only CLONE_FS and CLONE_THREAD are refused with it).
	long pid = clone(probe_child, probe_stack + sizeof probe_stack, (int)(outer | CLONE_VM | CLONE_VFORK | SIGCHLD), &inner);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -e;
	int st = 0;
	while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}
