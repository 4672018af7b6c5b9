// Namespace probes for jailrun doctor and for naming what a failed clone could not create. Same rules as
// spawn_linux.c: the throw-away child is a copy of a multi-threaded Go process and makes only raw system
// calls before it exits.
#define _GNU_SOURCE
#include "probe_linux.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int jr_probe_ns(unsigned long outer, unsigned long inner) {
	// Signals blocked around the raw clone, as in jr_spawn: the child must never run a Go signal handler.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	long pid = syscall(SYS_clone, outer | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		long e = 0;
		if (inner && syscall(SYS_unshare, inner) < 0)
			e = errno;
		syscall(SYS_exit_group, e > 0 && e < 256 ? e : (e ? 255 : 0));
	}
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -e;
	int st = 0;
	while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}
