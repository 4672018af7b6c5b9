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

// open_sysctl opens path for writing. The files come in runs of one directory (/proc/sys/user/...), and a
// lookup in a fresh user namespace's sysctl directory is not cached: the directory is opened once per run of
// files and each file beneath it, which halves the lookups. *dirfd and dir (the directory's path) carry the
// open directory from one call to the next.
static int open_sysctl(const char *path, int *dirfd, char *dir, size_t dirsz) {
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (!slash || n == 0 || n >= dirsz)
		return open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*dirfd < 0 || strncmp(dir, path, n) != 0 || dir[n] != 0) {
		if (*dirfd >= 0)
			close(*dirfd);
		memcpy(dir, path, n);
		dir[n] = 0;
		*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*dirfd < 0)
			return -1;
	}
	return openat(*dirfd, slash + 1, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
}

int jr_write_sysctls(struct jr_config *c, int *at) {
	char dir[256];
	int dirfd = -1, r = 0;
	dir[0] = 0;
	for (int i = 0; i < c->nsysctl; i++) {
		*at = i;
		int fd = open_sysctl(c->sysctl_paths[i], &dirfd, dir, sizeof dir);
		if (fd < 0) {
			r = -errno;
			break;
		}
		size_t n = strlen(c->sysctl_values[i]);
		ssize_t w;
		do {
			w = write(fd, c->sysctl_values[i], n);
		} while (w < 0 && errno == EINTR);
		int e = errno;
		close(fd);
		if (w < 0) {
			r = -e;
			break;
		}
		if ((size_t)w != n) {
			r = -EIO;
			break;
		}
	}
	if (dirfd >= 0)
		close(dirfd);
	return r;
}
