// See landlock_linux.h. The child is a fork of a multi-threaded Go process: only raw system calls here.
#define _GNU_SOURCE
#include "landlock_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define JR_LANDLOCK_RULE_PATH_BENEATH 1

// Rights that apply to a file (not a directory): add_rule refuses others on a non-directory fd.
#define JR_LL_FILE_RIGHTS ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15))

struct jr_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct jr_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

int jr_landlock_apply(const struct jr_landlock *l, int *at) {
	struct jr_ruleset_attr attr = {
	    .handled_access_fs = l->handled_fs, .handled_access_net = l->handled_net, .scoped = l->scoped};
	*at = -1;
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, (size_t)l->attr_size, 0U);
	if (rs < 0)
		return -errno;
	for (int i = 0; i < l->npaths; i++) {
		const struct jr_landlock_path *p = &l->paths[i];
		int fd = open(p->path, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == ENOENT && p->optional)
				continue;
			close(rs);
			*at = i;
			return -e;
		}
		struct stat st;
		uint64_t access = p->access;
		if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
			access &= JR_LL_FILE_RIGHTS;
		struct jr_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
		if (access != 0 && syscall(SYS_landlock_add_rule, rs, JR_LANDLOCK_RULE_PATH_BENEATH, &pb, 0U) < 0) {
			int e = errno;
			close(fd);
			close(rs);
			*at = i;
			return -e;
		}
		close(fd);
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0U) < 0) {
		int e = errno;
		close(rs);
		*at = -2;
		return -e;
	}
	close(rs);
	return 0;
}
