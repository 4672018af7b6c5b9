// budget_probe exhausts or checks one of the kernel's per-user budgets, for tests/budgets_test.go.
//
//   budget_probe hold KIND    use up the budget, print "held N errno E", then hold it until stdin ends
//   budget_probe check KIND   take one unit of the budget, print "ok" or "fail errno E", release it
//
// KIND is inotify (instances), sigpending (queued RT signals), pipe (pipe buffer pages: 1 MiB pipes) or
// mqueue (POSIX message queue bytes). Built statically so it runs in any sandbox root.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static int hold_n;

static int take(const char *kind, int i, int checking) {
	if (!strcmp(kind, "inotify"))
		return inotify_init1(IN_CLOEXEC) >= 0 ? 0 : -errno;
	if (!strcmp(kind, "sigpending")) {
		union sigval v = {.sival_int = i};
		return sigqueue(getpid(), SIGRTMIN, v) == 0 ? 0 : -errno;
	}
	if (!strcmp(kind, "pipe")) {
		int p[2];
		if (pipe(p) < 0)
			return -errno;
		// A user over pipe-user-pages-soft gets small pipes and may not grow them.
		if (fcntl(p[0], F_SETPIPE_SZ, 1 << 20) < 0)
			return -errno;
		if (checking) {
			int q[2];
			if (pipe(q) < 0)
				return -errno;
			int sz = fcntl(q[0], F_GETPIPE_SZ);
			close(q[0]);
			close(q[1]);
			close(p[0]);
			close(p[1]);
			if (sz < 65536)
				return -ENOBUFS;
		}
		return 0;
	}
	if (!strcmp(kind, "mqueue")) {
		char name[64];
		snprintf(name, sizeof name, "/jrprobe-%d-%d", (int)getpid(), i);
		struct mq_attr a = {.mq_maxmsg = 10, .mq_msgsize = 8192};
		mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
		if (q == (mqd_t)-1)
			return -errno;
		mq_unlink(name); // the open descriptor keeps the queue, and its bytes, alive
		if (checking)
			mq_close(q);
		return 0;
	}
	return -EINVAL;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: budget_probe hold|check inotify|sigpending|pipe|mqueue\n");
		return 2;
	}
	const char *kind = argv[2];
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, NULL); // queued, never delivered
	if (!strcmp(argv[1], "check")) {
		int r = take(kind, 0, 1);
		if (r == 0)
			printf("ok\n");
		else
			printf("fail errno %d\n", -r);
		return 0;
	}
	int r = 0;
	for (hold_n = 0; hold_n < 1000000; hold_n++)
		if ((r = take(kind, hold_n, 0)) < 0)
			break;
	printf("held %d errno %d\n", hold_n, -r);
	fflush(stdout);
	char b[64];
	while (read(0, b, sizeof b) > 0) {
	}
	return 0;
}
