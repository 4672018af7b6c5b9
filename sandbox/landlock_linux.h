// The Landlock layer of the exec stage: a ruleset derived from the policy's mounts, built by the Go parent
// (landlock_linux.go) and applied by the child just before the seccomp filter. Same rules as spawn_linux.c:
// raw system calls on memory the parent prepared, nothing else.
#ifndef JAILRUN_LANDLOCK_H
#define JAILRUN_LANDLOCK_H

#include <stdint.h>

struct jr_landlock_path {
	const char *path;  // inside the new root, absolute; opened O_PATH after pivot_root
	uint64_t access;   // LANDLOCK_ACCESS_FS_* rights granted beneath it (already masked by the ABI)
	int optional;      // a missing path is skipped (an optional bind whose source did not exist)
};

struct jr_landlock {
	uint64_t handled_fs;  // every right the kernel's ABI knows: what is not granted below is denied
	uint64_t handled_net; // ABI >= 4
	uint64_t scoped;      // ABI >= 6
	uint32_t attr_size;   // sizeof struct landlock_ruleset_attr as the kernel's ABI knows it
	struct jr_landlock_path *paths;
	int npaths;
};

// jr_landlock_apply builds the ruleset and restricts the calling thread (and what it executes). Returns 0,
// or -errno with *at set to the index of the path that failed, -1 for creating the ruleset, -2 for
// restrict_self. Needs no_new_privs (or CAP_SYS_ADMIN).
int jr_landlock_apply(const struct jr_landlock *l, int *at);

#endif
