// limits.kernel's sysctls: written by the sandbox's init inside its own user namespace, where
// /proc/sys/user/max_* are that namespace's own ceilings (the host's and other sandboxes' are untouched),
// after the last namespace jailrun itself creates and before anything of the policy's runs. Same rules as
// spawn_linux.c: raw system calls on memory the parent prepared.
#define _GNU_SOURCE
#include "spawn_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int jr_write_sysctls(struct jr_config *c, int *at) {
	for (int i = 0; i < c->nsysctl; i++) {
		*at = i;
		int fd = open(c->sysctl_paths[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -errno;
		size_t n = strlen(c->sysctl_values[i]);
		ssize_t w;
		do {
			w = write(fd, c->sysctl_values[i], n);
		} while (w < 0 && errno == EINTR);
		int e = errno;
		close(fd);
		if (w < 0)
			return -e;
		if ((size_t)w != n)
			return -EIO;
	}
	return 0;
}
