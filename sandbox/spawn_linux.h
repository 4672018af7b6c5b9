// The in-sandbox init stage. The Go parent builds a jr_config, jr_spawn clones the child with the namespace
// flags, and the child runs this plan in C — with no Go runtime to start, which is the largest cost of a
// launch when the child re-executes a Go binary (see docs/performance.md).
//
// Everything the child does between clone and execve is a raw syscall on memory prepared by the parent:
// no malloc, no stdio, no locks, because the child is a copy of a multi-threaded Go process.
#ifndef JAILRUN_SPAWN_H
#define JAILRUN_SPAWN_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "abi_linux.h" // generated from internal/childabi: op kinds, step codes, table sizes
#include "landlock_linux.h"

struct jr_op {
	int kind;
	int slot;              // JR_OP_OPEN_SRC / JR_OP_BIND / JR_OP_MASK (the /dev/null slot)
	int optional;          // a missing source or target is skipped, not an error
	const char *src;       // host path (OPEN_SRC), link target (SYMLINK)
	const char *dst;       // path inside the sandbox, relative to the root ("usr/bin"), or host path for ROOT
	const char *data;      // mount data (tmpfs options)
	const char *content;   // JR_OP_FILE
	uint64_t content_len;
	uint64_t flags;        // MS_* flags
	uint32_t mode;
	int recursive;         // JR_OP_BIND: MS_REC
	int parent_fd;         // > 0: OPEN_SRC: a detached tree the parent cloned from src; BIND: move it, don't bind

};

struct jr_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct jr_fdmap {
	int from, to; // the parent's fd `from` becomes fd `to` in the child
};

struct jr_config {
	uint64_t clone_flags;    // CLONE_NEW* flags
	int cgroup_fd;           // >= 0: clone3 CLONE_INTO_CGROUP
	int cgroup_tasks_fds[JR_MAX_CGROUP_TASKS]; // cgroup v1: the hierarchies' tasks files; the child writes "0" to
	int ncgroup_tasks;                         // each after the sync byte, joining its cgroup itself
	int sync_fd;             // child reads one byte: ids mapped (and, without cgroup_tasks_fds, cgroup joined)
	int err_fd;              // child writes a jr_error on failure (close-on-exec: EOF means exec happened)
	int status_fd;           // the reaper writes the command's wait status here
	int notify_sync_fd;      // with a notify listener: the command waits here until the parent took the fd
	int parent_fds[JR_PARENT_FDS];       // the parent's ends of those pipes (and of ctl_fd): the child closes its copies first, so that
	                         // EOF and POLLERR tell it the parent is gone
	int pdeathsig;

	struct jr_fdmap *fds;    // stdio and channels, applied with dup2 in order
	int nfds;

	struct jr_op *ops;
	int nops;
	int nslots;
	int *slots;              // scratch space for slot fds, nslots entries
	uint64_t *own_devs;      // scratch space for the devices of the tmpfs mounts the plan makes (root included)
	int own_cap;             // its entries: the plan's root and tmpfs ops

	struct jr_rlimit *rlimits;
	int nrlimits;

	int userns;              // ids are mapped by the parent: switch to them before touching the root
	int set_groups;          // setgroups(0) is allowed (root parent); rootless parents deny it
	uint32_t uid, gid;
	const char *hostname;    // NULL: leave
	int loopback_up;
	int unshare_cgroup;      // enter a cgroup namespace rooted at the sandbox's cgroup
	int reaper;              // fork: pid 1 reaps orphans and reports, the grandchild execs
	int umask;
	int no_new_privs;
	const char *workdir;

	struct sock_filter *filter; // seccomp program, installed last
	int filter_len;
	unsigned int seccomp_flags;

	const char *path;            // command: contains '/', or looked up in search
	const char *const *search;   // PATH directories inside the sandbox
	int nsearch;
	const char *const *allowed;  // if nallowed > 0 only these resolved paths may be executed
	int nallowed;
	char *const *argv;
	char *const *envp;

	// A pooled sandbox (ctl_fd >= 0) is prepared ahead of demand: the child sets up everything up to setsid,
	// says so with one byte on ctl_fd and waits there for its command. The command's fds arrive with the
	// message (SCM_RIGHTS); everything else is in cmd, memory shared with the parent (MAP_SHARED before the
	// clone) that the parent fills just before it sends.
	int ctl_fd;
	struct jr_cmd *cmd;

	struct jr_landlock *landlock; // NULL: no Landlock layer; applied after no_new_privs, before seccomp
	int unprivileged;             // degraded mode: no capabilities to drop, no CAP_SETPCAP to lock securebits
	int listener_dumpable;        // an unprivileged parent takes the seccomp listener from another host uid
	int own_userns;               // clone as owner_uid/owner_gid (root parent): they own the user namespace
	uint32_t owner_uid, owner_gid;
	int owner_err;                // out: errno when the switch was not possible and root owns the namespace

	// limits.kernel: /proc/sys/user files written inside the sandbox's user namespace (kernel_linux.c)
	const char *const *sysctl_paths;
	const char *const *sysctl_values;
	int nsysctl;
	const char *box_dir;          // NULL, or the run's box: pid 1 hands the parent a descriptor of it (files in and out)
};

struct jr_cmd {
	int32_t nfds;
	int32_t to[JR_POOL_MAX_FDS]; // the i-th received fd becomes fd to[i]
	int32_t nsearch;
	const char *path;
	const char *const *search;
	char *const *argv;
	char *const *envp;
};

// Where the child failed. step is an op index (>= 0) or one of the JR_STEP_* codes (abi_linux.h).
struct jr_error {
	int32_t step;
	int32_t err;    // errno
	int32_t detail; // e.g. the rlimit resource, the fd
	int32_t pad;
};

_Static_assert(sizeof(struct jr_error) == JR_ERROR_SIZE, "struct jr_error is childabi.ErrorSize bytes");

// What the reaper reports: the command's wait status.
struct jr_status {
	int32_t wstatus;
	int32_t pad;
};

// The calling thread's credentials while it clones a user namespace owned by cfg->owner_uid: see
// owner_linux.c. jr_owner_enter switches, or leaves the thread as it was and sets cfg->owner_err (a root
// without CAP_SETPCAP, as in some containers); jr_owner_leave restores or aborts.
struct jr_owner_saved {
	int active;
	int securebits;
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
};
void jr_owner_enter(struct jr_config *cfg, struct jr_owner_saved *s);
void jr_owner_leave(struct jr_owner_saved *s);

// jr_write_sysctls writes cfg's sysctls; on failure it returns -errno and *at is the failing index.
int jr_write_sysctls(struct jr_config *cfg, int *at);

// jr_child_addresses gives addresses of memory the child uses besides its configuration: the calling
// thread's C stack, which it runs on after the clone, this file's static data (the command's stack) and the
// thread's control block (its TLS). The parent keeps the mappings that hold them in the child's copy
// (nofork_linux.go).
void jr_child_addresses(uintptr_t out[3]);

// jr_spawn clones the child. Returns its pid (> 0) and sets *pidfd, or returns -errno.
int jr_spawn(struct jr_config *cfg, int *pidfd);

#endif
