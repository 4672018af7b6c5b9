// The child side of a launch: see spawn_linux.h for why this is C.
//
// Rules for this file: the child is a fork of a multi-threaded Go process, so between clone and execve it
// may only make system calls on memory the parent prepared. No malloc, no stdio, no locale, no errno-setting
// library call that could take a lock.
#define _GNU_SOURCE
#include "spawn_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(JR_KILL_SIGNAL == SIGUSR1, "childabi.KillSignal must be SIGUSR1");

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif

#define PATH_BUF 4096

// The sandbox's init is a copy of jailrun's memory, and the kernel shows /proc/PID/cmdline and environ
// from that memory: without hide_launcher, pid 1 inside would show jailrun's host command line (host paths,
// flags, --param values) to everything in the sandbox. The parent reads where its argv and environment
// strings lie once per process (parent side: it may use ordinary calls); each child blanks them.
static unsigned long launcher_args[2], launcher_env[2];
static pthread_once_t launcher_once = PTHREAD_ONCE_INIT;

static void find_launcher_strings(void) {
	char buf[2048];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	// Field 2, the command name, is in parentheses and may itself hold spaces and ')': count from the last ')'.
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return;
	p += 2;
	unsigned long v[52];
	int field = 3;
	while (field < 52 && *p) {
		unsigned long x = 0;
		if (*p == '-')
			p++;
		if (*p < '0' || *p > '9') {
			p++; // field 3, the state letter
		}
		while (*p >= '0' && *p <= '9')
			x = x * 10 + (unsigned long)(*p++ - '0');
		v[field++] = x;
		if (*p != ' ')
			break;
		p++;
	}
	if (field < 52)
		return;
	// proc(5): 48 arg_start, 49 arg_end, 50 env_start, 51 env_end.
	launcher_args[0] = v[48], launcher_args[1] = v[49];
	launcher_env[0] = v[50], launcher_env[1] = v[51];
}

static void hide_launcher(void) {
	static const char title[] = "init";
	unsigned long a = launcher_args[0], e = launcher_args[1];
	if (e > a) {
		memset((void *)a, 0, e - a);
		// A non-NUL last byte makes the kernel read the area as a title rewritten by setproctitle and show it
		// only up to its first NUL: /proc/1/cmdline then reads "init", not a run of NULs as long as jailrun's
		// own command line was.
		if (e - a > sizeof title) {
			memcpy((void *)a, title, sizeof title);
			((char *)e)[-1] = ' ';
		}
	}
	if (launcher_env[1] > launcher_env[0])
		memset((void *)launcher_env[0], 0, launcher_env[1] - launcher_env[0]);
	prctl(PR_SET_NAME, (unsigned long)title, 0, 0, 0); // /proc/1/comm and status: not the launcher's name
}

static void report(struct jr_config *c, int step, int err, int detail) {
	struct jr_error e = {.step = step, .err = err, .detail = detail, .pad = 0};
	ssize_t n;
	do {
		n = write(c->err_fd, &e, sizeof e);
	} while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void die(struct jr_config *c, int step, int err, int detail) {
	report(c, step, err, detail);
	_exit(step == JR_STEP_EXEC_NOT_FOUND ? 127 : (step == JR_STEP_EXEC ? 126 : 125));
}

// fdpath writes "/proc/self/fd/N" into buf.
static const char *fdpath(char *buf, int fd) {
	static const char prefix[] = "/proc/self/fd/";
	char digits[16];
	int n = 0;
	memcpy(buf, prefix, sizeof prefix - 1);
	do {
		digits[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd > 0);
	for (int i = 0; i < n; i++)
		buf[sizeof prefix - 1 + i] = digits[n - 1 - i];
	buf[sizeof prefix - 1 + n] = 0;
	return buf;
}

// ours lists the devices of the tmpfs mounts this stage made. The child may create files and directories
// only on them: a mount point missing inside a host bind (even a writable one) is an error, never a new
// directory on the host. The parent sizes it from the plan (one entry per root or tmpfs op), so it cannot
// fill up; if it ever did, the launch fails rather than leave a tmpfs out (whose mount points would then be
// refused, or worse, decided by a stale entry).
static uint64_t *ours;
static int nours, ours_cap;

static void own_mount(struct jr_config *c, int step, int fd) {
	struct stat st;
	if (nours >= ours_cap)
		die(c, step, EOVERFLOW, 0);
	if (fstat(fd, &st) < 0)
		die(c, step, errno, 0);
	ours[nours++] = (uint64_t)st.st_dev;
}

static int may_create(int dirfd) {
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return 0;
	for (int i = 0; i < nours; i++)
		if (ours[i] == (uint64_t)st.st_dev)
			return 1;
	return 0;
}

// walk opens rel (a clean relative path, "" for the root itself) beneath rootfd, one component at a time
// with O_NOFOLLOW, so a symlink anywhere on the way — planted by an earlier run in a writable bind, or simply
// present in a host tree — can never redirect a mount outside the sandbox's root. Missing directories are
// created when mkdir_mode is non-zero. When leaf_file is set, a missing last component is created as an empty
// regular file (a bind target for a file). Returns an O_PATH fd or -errno.
static int walk(int rootfd, const char *rel, uint32_t mkdir_mode, int leaf_file, uint32_t file_mode) {
	char comp[256];
	if (*rel) {
		// Most lookups find everything in place: one openat2 that refuses every symlink and any way out of
		// rootfd does the same as the walk below, in one system call instead of two or three per component.
		// Whatever it does not open (a missing component to create, a symlink, a kernel without openat2)
		// takes the walk, which then decides, and reports, exactly as it always has.
		struct open_how how;
		memset(&how, 0, sizeof how);
		how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC | (leaf_file ? 0 : O_DIRECTORY);
		how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
		int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
		if (fd >= 0) {
			struct stat st;
			// With O_PATH|O_NOFOLLOW a trailing symlink is opened, not refused: the walk's answer for it.
			if (!leaf_file || (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode)))
				return fd;
			close(fd);
		}
	}
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (cur < 0)
		return -errno;
	const char *p = rel;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0 || len >= sizeof comp) {
			close(cur);
			return -EINVAL;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		int last = end == NULL;
		int next;
		if (last && leaf_file) {
			next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0 && errno == ENOENT && mkdir_mode) {
				if (!may_create(cur)) {
					close(cur);
					return -EXDEV;
				}
				int f = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file_mode);
				if (f < 0) {
					int e = errno;
					close(cur);
					return -e;
				}
				close(f);
				next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			}
			if (next >= 0) {
				struct stat st;
				if (fstat(next, &st) == 0 && S_ISLNK(st.st_mode)) {
					close(next);
					close(cur);
					return -ELOOP;
				}
			}
		} else {
			next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
			if (next < 0 && errno == ENOENT && mkdir_mode) {
				if (!may_create(cur)) {
					close(cur);
					return -EXDEV;
				}
				if (mkdirat(cur, comp, mkdir_mode) < 0 && errno != EEXIST) {
					int e = errno;
					close(cur);
					return -e;
				}
				next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
			}
		}
		int e = errno;
		close(cur);
		if (next < 0)
			return -e;
		cur = next;
		p = last ? p + len : end + 1;
	}
	return cur;
}

// mntflags returns the per-mount flags of fd that a bind remount must keep: on a mount inherited from a
// more privileged namespace they are locked, and dropping one makes the remount fail with EPERM.
static unsigned long mntflags(int fd) {
	struct statfs s;
	unsigned long f = 0;
	if (fstatfs(fd, &s) != 0)
		return 0;
	if (s.f_flags & ST_NOSUID)
		f |= MS_NOSUID;
	if (s.f_flags & ST_NODEV)
		f |= MS_NODEV;
	if (s.f_flags & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (s.f_flags & ST_NOATIME)
		f |= MS_NOATIME;
	if (s.f_flags & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (s.f_flags & ST_RELATIME)
		f |= MS_RELATIME;
	if (s.f_flags & ST_RDONLY)
		f |= MS_RDONLY;
	return f;
}

// remount_fd changes the flags of the mount whose root fd is. fd must come from a fresh lookup (walk) made
// after the mount: an fd opened before it, or re-opened through its /proc/self/fd magic link, still names
// the directory underneath.
static int remount_fd(int fd, unsigned long flags) {
	char buf[64];
	unsigned long keep = mntflags(fd);
	if (mount(NULL, fdpath(buf, fd), NULL, MS_REMOUNT | MS_BIND | keep | flags, NULL) < 0)
		return -errno;
	return 0;
}

// remount_path looks dst up again, so the lookup crosses into the mount just made on it, and remounts that.
static int remount_path(int rootfd, const char *dst, unsigned long flags) {
	int fd = walk(rootfd, dst, 0, 1, 0);
	if (fd < 0)
		return fd;
	int r = remount_fd(fd, flags);
	close(fd);
	return r;
}

// parent_dir creates dst's parent directories (only on jailrun's own tmpfs mounts) and returns the parent
// opened for real, with *name pointing at dst's last component: the place for op i to create its entry.
static int parent_dir(struct jr_config *c, int i, int rootfd, const char *dst, const char **name) {
	const char *slash = strrchr(dst, '/');
	char parent[PATH_BUF];
	*name = dst;
	parent[0] = 0;
	if (slash) {
		size_t n = (size_t)(slash - dst);
		if (n >= sizeof parent)
			die(c, i, ENAMETOOLONG, 0);
		memcpy(parent, dst, n);
		parent[n] = 0;
		*name = slash + 1;
	}
	int dir = walk(rootfd, parent, 0755, 0, 0);
	if (dir < 0)
		die(c, i, -dir, 0);
	if (!may_create(dir))
		die(c, i, EXDEV, 0);
	// O_PATH fds cannot be used with openat for creation; reopen the directory for real.
	int d = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(dir);
	if (d < 0)
		die(c, i, errno, 0);
	return d;
}

static void run_ops(struct jr_config *c) {
	char buf[64], buf2[64];
	int rootfd = -1;
	ours = c->own_devs;
	ours_cap = c->own_cap;
	nours = 0;
	for (int i = 0; i < c->nops; i++) {
		struct jr_op *op = &c->ops[i];
		int fd = -1, r = 0;
		switch (op->kind) {
		case JR_OP_OPEN_SRC:
			if (op->parent_fd > 0) {
				c->slots[op->slot] = op->parent_fd;
				continue;
			}
			fd = open(op->src, O_PATH | O_CLOEXEC);
			if (fd < 0) {
				if (errno == ENOENT && op->optional) {
					c->slots[op->slot] = -1;
					continue;
				}
				die(c, i, errno, 0);
			}
			c->slots[op->slot] = fd;
			continue;
		case JR_OP_ROOT:
			if (mount("tmpfs", op->dst, "tmpfs", MS_NOSUID | MS_NODEV, op->data) < 0)
				die(c, i, errno, 0);
			rootfd = open(op->dst, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (rootfd < 0)
				die(c, i, errno, 0);
			own_mount(c, i, rootfd);
			continue;
		case JR_OP_PIVOT:
			if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
			    chdir("/") < 0)
				die(c, i, errno, 0);
			continue;
		}
		if (rootfd < 0)
			die(c, i, EINVAL, 0);
		switch (op->kind) {
		case JR_OP_BIND: {
			int src = c->slots[op->slot];
			if (src < 0)
				continue; // optional source that does not exist
			struct stat st;
			if (fstat(src, &st) < 0)
				die(c, i, errno, 0);
			fd = walk(rootfd, op->dst, 0755, !S_ISDIR(st.st_mode), 0644);
			if (fd < 0)
				die(c, i, -fd, 0);
			if (op->parent_fd > 0) {
				// A detached tree the parent cloned (open_tree): moved into place, not bound.
				if (syscall(SYS_move_mount, src, "", fd, "", 0x4 | 0x40) < 0) // MOVE_MOUNT_F_EMPTY_PATH | T_EMPTY_PATH
					die(c, i, errno, 0);
			} else if (mount(fdpath(buf, src), fdpath(buf2, fd), NULL, MS_BIND | (op->recursive ? MS_REC : 0), NULL) < 0)
				die(c, i, errno, 0);
			if (op->flags && (r = remount_path(rootfd, op->dst, op->flags)) < 0)
				die(c, i, -r, 1);
			break;
		}
		case JR_OP_DEVPTS:
			fd = walk(rootfd, op->dst, 0755, 0, 0);
			if (fd < 0)
				die(c, i, -fd, 0);
			if (mount("devpts", fdpath(buf, fd), "devpts", op->flags, op->data) < 0)
				die(c, i, errno, 0);
			break;
		case JR_OP_TMPFS:
		case JR_OP_PROC:
			fd = walk(rootfd, op->dst, 0755, 0, 0);
			if (fd < 0)
				die(c, i, -fd, 0);
			if (mount(op->kind == JR_OP_PROC ? "proc" : "tmpfs", fdpath(buf, fd), op->kind == JR_OP_PROC ? "proc" : "tmpfs",
			          op->flags, op->data) < 0)
				die(c, i, errno, 0);
			if (op->kind == JR_OP_TMPFS) {
				int m = walk(rootfd, op->dst, 0, 0, 0);
				if (m < 0)
					die(c, i, -m, 0);
				own_mount(c, i, m);
				close(m);
			}
			break;
		case JR_OP_DIR:
			fd = walk(rootfd, op->dst, op->mode ? op->mode : 0755, 0, 0);
			if (fd < 0)
				die(c, i, -fd, 0);
			break;
		case JR_OP_FILE: {
			// Create the parent, then the file itself with O_EXCL|O_NOFOLLOW.
			const char *name;
			int d = parent_dir(c, i, rootfd, op->dst, &name);
			int f = openat(d, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, op->mode ? op->mode : 0644);
			close(d);
			if (f < 0)
				die(c, i, errno, 0);
			uint64_t off = 0;
			while (off < op->content_len) {
				ssize_t n = write(f, op->content + off, op->content_len - off);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					die(c, i, errno, 0);
				}
				off += (uint64_t)n;
			}
			if (fchmod(f, op->mode ? op->mode : 0644) < 0)
				die(c, i, errno, 0);
			if (op->flags) {
				// The mount around the file would not give it the read-only-ness asked (a writable tmpfs
				// around a read-only file, the read-only root around a writable one): it gets a mount of
				// its own, bound onto itself through its descriptor, with these flags.
				if (mount(fdpath(buf, f), fdpath(buf2, f), NULL, MS_BIND, NULL) < 0)
					die(c, i, errno, 0);
				close(f);
				if ((r = remount_path(rootfd, op->dst, op->flags)) < 0)
					die(c, i, -r, 1);
				continue;
			}
			close(f);
			continue;
		}
		case JR_OP_SYMLINK: {
			const char *name;
			int d = parent_dir(c, i, rootfd, op->dst, &name);
			if (symlinkat(op->src, d, name) < 0)
				die(c, i, errno, 0);
			close(d);
			continue;
		}
		case JR_OP_REMOUNT:
			if ((r = remount_path(rootfd, op->dst, op->flags)) < 0)
				die(c, i, -r, 0);
			break;
		case JR_OP_MASK: {
			struct stat st;
			fd = walk(rootfd, op->dst, 0, 1, 0);
			if (fd == -ENOENT)
				continue;
			if (fd < 0)
				die(c, i, -fd, 0);
			if (fstat(fd, &st) < 0)
				die(c, i, errno, 0);
			if (S_ISDIR(st.st_mode)) {
				if (mount("tmpfs", fdpath(buf, fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,nr_inodes=1,mode=0555") < 0)
					die(c, i, errno, 0);
			} else {
				int null = c->slots[op->slot];
				if (null < 0)
					die(c, i, ENOENT, 0);
				if (mount(fdpath(buf, null), fdpath(buf2, fd), NULL, MS_BIND, NULL) < 0)
					die(c, i, errno, 0);
				if ((r = remount_path(rootfd, op->dst, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) < 0)
					die(c, i, -r, 1);
			}
			break;
		}
		default:
			die(c, i, EINVAL, 0);
		}
		if (fd >= 0)
			close(fd);
	}
	for (int s = 0; s < c->nslots; s++)
		if (c->slots[s] >= 0)
			close(c->slots[s]);
	if (rootfd >= 0)
		close(rootfd);
}

static int loopback_up(void) {
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(s);
	return r < 0 ? -e : 0;
}

// clear_caps empties the effective, permitted, inheritable and ambient sets: all a process that never calls
// execve holds.
static int clear_caps(void) {
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

// drop_bounding empties the bounding set, which limits what an execve could grant (file capabilities, a
// set-uid root binary). Each drop is a credential change, so only the capabilities still in the set are
// dropped (a pooled pid 1 empties it before it waits, and its command inherits that), and the loop ends at
// the first number the kernel does not know: capabilities are numbered without gaps up to its last.
static int drop_bounding(void) {
	for (int cap = 0; cap <= 63; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			return errno == EINVAL ? 0 : -errno;
		if (in && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

// drop_caps also empties the bounding set: for the process that execs.
static int drop_caps(void) {
	int r = drop_bounding();
	return r < 0 ? r : clear_caps();
}

static void set_ids(struct jr_config *c) {
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		die(c, JR_STEP_KEEPCAPS, errno, 0);
	if (c->set_groups && syscall(SYS_setgroups, 0, NULL) < 0)
		die(c, JR_STEP_SETGROUPS, errno, 0);
	if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0)
		die(c, JR_STEP_SETGID, errno, 0);
	if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
		die(c, JR_STEP_SETUID, errno, 0);
}

// setup_fds moves the parent's fds to their places and closes everything else, keeping err_fd (close-on-exec)
// so a failing exec can still be reported.
static void setup_fds(struct jr_config *c) {
	int hi = 3;
	for (int i = 0; i < c->nfds; i++)
		if (c->fds[i].to + 1 > hi)
			hi = c->fds[i].to + 1;
	// First lift every source above all targets so a dup2 cannot clobber a source that is still needed.
	for (int i = 0; i < c->nfds; i++) {
		int t = fcntl(c->fds[i].from, F_DUPFD_CLOEXEC, hi);
		if (t < 0)
			die(c, JR_STEP_FDS, errno, c->fds[i].from);
		c->fds[i].from = t;
	}
	int err = fcntl(c->err_fd, F_DUPFD_CLOEXEC, hi);
	if (err < 0)
		die(c, JR_STEP_FDS, errno, c->err_fd);
	c->err_fd = err;
	int nfd = -1;
	if (c->notify_sync_fd >= 0) {
		nfd = fcntl(c->notify_sync_fd, F_DUPFD_CLOEXEC, err + 1);
		if (nfd < 0)
			die(c, JR_STEP_FDS, errno, c->notify_sync_fd);
		c->notify_sync_fd = nfd;
	}
	for (int i = 0; i < c->nfds; i++)
		if (dup2(c->fds[i].from, c->fds[i].to) < 0)
			die(c, JR_STEP_FDS, errno, c->fds[i].to);
	// Close every fd below hi that is not a target, then everything at or above hi except err_fd and the
	// notify sync fd.
	for (int fd = 0; fd < hi; fd++) {
		int keep = 0;
		for (int i = 0; i < c->nfds; i++)
			if (c->fds[i].to == fd)
				keep = 1;
		if (!keep)
			close(fd);
	}
	if (err > hi && syscall(SYS_close_range, hi, err - 1, 0) < 0)
		die(c, JR_STEP_FDS, errno, hi);
	int last = err;
	if (nfd >= 0) {
		if (nfd > err + 1 && syscall(SYS_close_range, err + 1, nfd - 1, 0) < 0)
			die(c, JR_STEP_FDS, errno, err + 1);
		last = nfd;
	}
	if (syscall(SYS_close_range, last + 1, ~0U, 0) < 0)
		die(c, JR_STEP_FDS, errno, last + 1);
}

static int allowed(struct jr_config *c, const char *path) {
	if (c->nallowed == 0)
		return 1;
	for (int i = 0; i < c->nallowed; i++)
		if (strcmp(c->allowed[i], path) == 0)
			return 1;
	return 0;
}

// try_exec executes path; it returns only on failure, with errno set. With an allowlist, the file that runs
// must be the one the list names: no symlink anywhere on the path (the check compared the string, execve
// would follow the link) and no "#!" script (its interpreter would run instead), so the path is opened
// without following links, checked, and executed through that very fd.
static void try_exec(struct jr_config *c, const char *path) {
	if (c->nallowed == 0) {
		execve(path, c->argv, c->envp);
		return;
	}
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_RDONLY | O_CLOEXEC;
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
	if (fd < 0) {
		if (errno == ELOOP)
			die(c, JR_STEP_NOT_ALLOWED, ELOOP, 1);
		return;
	}
	char magic[2];
	if (pread(fd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!')
		die(c, JR_STEP_NOT_ALLOWED, ENOEXEC, 2);
	syscall(SYS_execveat, fd, "", c->argv, c->envp, AT_EMPTY_PATH);
	int e = errno;
	close(fd);
	errno = e;
}

__attribute__((noreturn)) static void exec_stage(struct jr_config *c) {
	setup_fds(c);
	for (int i = 0; i < c->nrlimits; i++) {
		struct rlimit r = {.rlim_cur = c->rlimits[i].soft, .rlim_max = c->rlimits[i].hard};
		if (setrlimit(c->rlimits[i].resource, &r) < 0)
			die(c, JR_STEP_RLIMIT, errno, c->rlimits[i].resource);
	}
	umask((mode_t)c->umask);
	if (!c->userns)
		set_ids(c);
	// Armed after the last credential change, which would clear it.
	if (c->reaper && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die(c, JR_STEP_SIGNALS, errno, 0);
	// Lock the root-is-special rules off before dropping CAP_SETPCAP: even a policy that runs as uid 0 inside
	// cannot regain capabilities through execve of a setuid or root-owned file.
	if (!c->unprivileged && prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
	                                 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
	                                 SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
	          0, 0, 0) < 0)
		die(c, JR_STEP_CAPS, errno, 1);
	int r = c->unprivileged ? 0 : drop_caps();
	if (r < 0)
		die(c, JR_STEP_CAPS, -r, 2);
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(c, JR_STEP_NO_NEW_PRIVS, errno, 0);
	if (c->landlock) {
		int at = -1, lr = jr_landlock_apply(c->landlock, &at);
		if (lr < 0)
			die(c, JR_STEP_LANDLOCK, -lr, at);
	}
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		die(c, JR_STEP_SIGNALS, errno, 1);
	// Changing to a subordinate host uid made this process non-dumpable, and its memory still belongs to the
	// host's user namespace: an unprivileged parent could not take the listener below. Dumpable again, it is
	// reachable by its own host uid and by the owner of its user namespace, the parent; nothing in the
	// sandbox can address it yet (the reaper is the only other process, and exec resets the flag).
	if (c->listener_dumpable && (c->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) &&
	    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		die(c, JR_STEP_DUMPABLE, errno, 0);
	if (c->filter_len > 0) {
		struct sock_fprog prog = {.len = (unsigned short)c->filter_len, .filter = c->filter};
		long lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, c->seccomp_flags, &prog);
		if (lfd < 0)
			die(c, JR_STEP_SECCOMP, errno, 0);
		if (c->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
			// The parent takes the listener with pidfd_getfd while this process waits: passing it over a
			// socket would need sendmsg, which the filter may deny or route to the very listener in transit.
			report(c, JR_STEP_NOTIFY_FD, 0, (int)lfd);
			char b;
			ssize_t n;
			do {
				n = read(c->notify_sync_fd, &b, 1);
			} while (n < 0 && errno == EINTR);
			if (n != 1)
				_exit(125);
			close((int)lfd);
			close(c->notify_sync_fd);
		}
	}
	// From here on only the exec calls (and, on failure, write and exit_group) may run: the filter is in force.
	if (strchr(c->path, '/')) {
		if (!allowed(c, c->path))
			die(c, JR_STEP_NOT_ALLOWED, EPERM, 0);
		try_exec(c, c->path);
		die(c, errno == ENOENT ? JR_STEP_EXEC_NOT_FOUND : JR_STEP_EXEC, errno, 0);
	}
	char full[PATH_BUF];
	int seen_eacces = 0, seen_disallowed = 0;
	size_t plen = strlen(c->path);
	for (int i = 0; i < c->nsearch; i++) {
		size_t dlen = strlen(c->search[i]);
		if (dlen + 1 + plen + 1 > sizeof full)
			continue;
		memcpy(full, c->search[i], dlen);
		full[dlen] = '/';
		memcpy(full + dlen + 1, c->path, plen + 1);
		if (!allowed(c, full)) {
			seen_disallowed = 1;
			continue;
		}
		try_exec(c, full);
		if (errno == EACCES)
			seen_eacces = 1;
		else if (errno != ENOENT && errno != ENOTDIR)
			die(c, JR_STEP_EXEC, errno, 0);
	}
	if (seen_eacces)
		die(c, JR_STEP_EXEC, EACCES, 0);
	if (seen_disallowed)
		die(c, JR_STEP_NOT_ALLOWED, EPERM, 0);
	die(c, JR_STEP_EXEC_NOT_FOUND, ENOENT, 0);
}

// kill_descendants ends every process below this one, for a reaper without a pid namespace (degraded mode),
// where nothing else would: the kernel kills a pid namespace's processes when its pid 1 exits, but here the
// command's leftovers would be reparented to the host's init and live on, also after jailrun's SIGKILL.
// Only children can be named safely (a pid stays this process's until it is reaped), and as a child dies its
// own children are reparented here (a subreaper), so killing every child and reaping one at a time reaches
// the whole tree, whatever sessions or groups its members made. Killed processes cannot fork, so it ends.
static void kill_descendants(void) {
	// "/proc/self/task/<tid>/children", without stdio in this process.
	char path[64] = "/proc/self/task/", digits[16];
	int nd = 0;
	for (unsigned t = (unsigned)syscall(SYS_gettid); nd == 0 || t > 0; t /= 10)
		digits[nd++] = (char)('0' + t % 10);
	size_t len = strlen(path);
	while (nd > 0)
		path[len++] = digits[--nd];
	memcpy(path + len, "/children", sizeof "/children");
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char buf[4096];
			ssize_t n = read(fd, buf, sizeof buf);
			close(fd);
			long pid = 0;
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] >= '0' && buf[i] <= '9') {
					pid = pid * 10 + (buf[i] - '0');
				} else {
					if (pid > 0)
						kill((pid_t)pid, SIGKILL);
					pid = 0;
				}
			}
			if (n > 0 && n < (ssize_t)sizeof buf && pid > 0)
				kill((pid_t)pid, SIGKILL); // the last one, if the kernel wrote no separator after it
		}
		pid_t r = wait4(-1, NULL, __WALL, NULL);
		if (r < 0 && errno != EINTR)
			return; // ECHILD: nothing left below
	}
}

// reap is pid 1 of the sandbox: it reaps every orphan (this host's own pid 1 reaps only about once a second,
// and zombies count against the pids limit) and reports the command's status. When it returns, the kernel
// kills whatever is left in the pid namespace, so a double-forked daemon cannot outlive the run.
__attribute__((noreturn)) static void reap(struct jr_config *c, pid_t cmd) {
	int keep = c->status_fd;
	int own_ns = (c->clone_flags & CLONE_NEWPID) != 0;
	if (keep > 0)
		syscall(SYS_close_range, 0, keep - 1, 0);
	syscall(SYS_close_range, keep + 1, ~0U, 0);
	// This process is a copy of jailrun's memory: make it unreadable to anything in the sandbox.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!own_ns)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	clear_caps(); // never execs: the bounding set would guard nothing (and each drop is a credential change)
	// Wait for children and, at the same time, for the parent to go away: the parent-death signal is not
	// enough on its own (a pid namespace's init drops it in some paths), while the parent's end of the status
	// pipe closing is certain. All signals are blocked here; SIGCHLD arrives through a signalfd.
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaddset(&chld, JR_KILL_SIGNAL); // blocked since the clone: one sent before this point is pending
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		int st;
		pid_t p;
		while ((p = wait4(-1, &st, WNOHANG, NULL)) > 0) {
			if (p == cmd) {
				struct jr_status s = {.wstatus = st, .pad = 0};
				ssize_t n;
				do {
					n = write(keep, &s, sizeof s);
				} while (n < 0 && errno == EINTR);
				if (!own_ns)
					kill_descendants();
				_exit(0);
			}
		}
		if (p < 0 && errno == ECHILD)
			_exit(1);
		if (sfd < 0) {
			// No signalfd: block in wait4 and rely on the parent-death signal alone.
			p = wait4(-1, &st, __WALL, NULL);
			if (p == cmd) {
				struct jr_status s = {.wstatus = st, .pad = 0};
				ssize_t n = write(keep, &s, sizeof s);
				(void)n;
				if (!own_ns)
					kill_descendants();
				_exit(0);
			}
			continue;
		}
		struct pollfd pfd[2] = {{.fd = keep, .events = 0}, {.fd = sfd, .events = POLLIN}};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		if (pfd[0].revents & (POLLERR | POLLHUP)) {
			// jailrun is gone (even SIGKILLed): leaving kills the whole pid namespace, if there is one.
			if (!own_ns)
				kill_descendants();
			_exit(1);
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si) {
				// jailrun ends the run (a limit): kill everything else in the pid namespace (kill(-1) reaches
				// no further), then reap the command as after any end, so that its rusage (max RSS, context
				// switches) is not lost with a pid 1 killed first. Only a sender outside the namespace (pid 0
				// here) is obeyed; jailrun sends SIGKILL anyway if this does not end the run.
				if (si.ssi_signo == JR_KILL_SIGNAL && si.ssi_pid == 0 && own_ns)
					kill(-1, SIGKILL);
			}
		}
	}
}

// wait_command is where a pooled sandbox waits, set up and idle, for the command it will run: once only.
static struct jr_fdmap pool_fds[JR_POOL_MAX_FDS];

static int kept(struct jr_config *c, int fd) {
	return fd == c->ctl_fd || fd == c->err_fd || fd == c->status_fd || fd == c->notify_sync_fd;
}

static void wait_command(struct jr_config *c) {
	// A pooled child may wait for long, and it was cloned holding every fd jailrun had open then, among them
	// the parent ends of other sandboxes' pipes: keep only its own.
	int hi = c->ctl_fd;
	if (c->err_fd > hi)
		hi = c->err_fd;
	if (c->status_fd > hi)
		hi = c->status_fd;
	if (c->notify_sync_fd > hi)
		hi = c->notify_sync_fd;
	for (int fd = 0, from = 0; fd <= hi; fd++)
		if (kept(c, fd)) {
			if (fd > from)
				syscall(SYS_close_range, from, fd - 1, 0);
			from = fd + 1;
		}
	syscall(SYS_close_range, hi + 1, ~0U, 0);
	// Off the path from command to exec: the bounding set is emptied while waiting; the command inherits it
	// empty and drop_caps finds nothing left to drop there.
	if (!c->unprivileged && drop_bounding() < 0)
		_exit(125);
	char b = 1;
	ssize_t n;
	do {
		n = send(c->ctl_fd, &b, 1, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(125);
	union {
		char buf[CMSG_SPACE(sizeof(int) * JR_POOL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = &b, .iov_len = 1};
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof u.buf;
	do {
		n = recvmsg(c->ctl_fd, &m, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(0); // the pool dropped this sandbox unused
	if (m.msg_flags & MSG_CTRUNC)
		die(c, JR_STEP_POOL_CMD, EMSGSIZE, 0);
	int nfd = 0;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && nfd < JR_POOL_MAX_FDS; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
			pool_fds[nfd++].from = fd;
		}
	}
	struct jr_cmd *cmd = c->cmd;
	if (nfd != cmd->nfds)
		die(c, JR_STEP_POOL_CMD, EBADF, nfd);
	for (int i = 0; i < nfd; i++)
		pool_fds[i].to = cmd->to[i];
	c->fds = pool_fds;
	c->nfds = nfd;
	c->path = cmd->path;
	c->search = cmd->search;
	c->nsearch = cmd->nsearch;
	c->argv = cmd->argv;
	c->envp = cmd->envp;
	close(c->ctl_fd);
	c->ctl_fd = -1;
}

// The command's stack until execve (see child_main). exec_stage needs a few pages; this is generous.
static char cmd_stack[256 * 1024] __attribute__((aligned(16)));

static int cmd_main(void *arg) {
	exec_stage((struct jr_config *)arg);
}

static void reset_signals(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < 65; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &sa, NULL, 8);
}

__attribute__((noreturn)) static void child_main(struct jr_config *c) {
	// Go's handlers are still installed in this copy of the process; a signal before execve must never run them.
	reset_signals();
	hide_launcher();
	for (int i = 0; i < JR_PARENT_FDS; i++)
		if (c->parent_fds[i] >= 0)
			close(c->parent_fds[i]);
	char b;
	ssize_t n;
	do {
		n = read(c->sync_fd, &b, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(125); // the parent gave up before we were placed: nothing to report to
	close(c->sync_fd);
	// cgroup v1: join the run's cgroup by writing 0 (this thread) to each hierarchy's tasks file. This process
	// has one thread, so that moves all of it, before it runs anything of the policy's and before it enters its
	// cgroup namespace. A move of the calling thread alone does not take cgroup_threadgroup_rwsem, whose
	// write side (a pid written by the parent) waits for an RCU grace period on an otherwise idle host.
	for (int i = 0; i < c->ncgroup_tasks; i++) {
		if (write(c->cgroup_tasks_fds[i], "0", 1) != 1)
			die(c, JR_STEP_JOIN_CGROUP, errno, i);
		close(c->cgroup_tasks_fds[i]);
	}
	if (c->userns)
		set_ids(c); // files this stage creates must belong to an id the namespace maps
	// After set_ids: the kernel clears the parent-death signal on every credential change.
	if (c->pdeathsig && prctl(PR_SET_PDEATHSIG, c->pdeathsig, 0, 0, 0) < 0)
		die(c, JR_STEP_SIGNALS, errno, 0);
	// The parent may have died before the signal was armed; its end of the status pipe tells.
	struct pollfd pfd = {.fd = c->status_fd, .events = POLLOUT};
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP)))
		_exit(125);
	if (c->unshare_cgroup && unshare(CLONE_NEWCGROUP) < 0)
		die(c, JR_STEP_UNSHARE_CGROUP, errno, 0);
	// After the last namespace of jailrun's own: the namespace ceilings may be 0.
	int sat = 0, sr = jr_write_sysctls(c, &sat);
	if (sr < 0)
		die(c, JR_STEP_SYSCTL, -sr, sat);
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
		die(c, JR_STEP_HOSTNAME, errno, 0);
	if (c->loopback_up) {
		int r = loopback_up();
		if (r < 0)
			die(c, JR_STEP_LOOPBACK, -r, 0);
	}
	if (c->clone_flags & CLONE_NEWNS) {
		// Nothing mounted from here on may propagate back to the host.
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die(c, JR_STEP_MOUNT_PRIVATE, errno, 0);
		run_ops(c);
	}
	if (c->workdir && chdir(c->workdir) < 0)
		die(c, JR_STEP_CHDIR, errno, 0);
	if (c->box_dir) {
		// The parent copies the run's files in through a descriptor of the box, taken with pidfd_getfd while
		// this process waits, and keeps it to copy files out once the run is over: nothing of the sandbox has
		// run yet, and the descriptor keeps the box's tmpfs alive after the sandbox is gone.
		int bfd = open(c->box_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (bfd < 0)
			die(c, JR_STEP_BOX, errno, 0);
		// An unprivileged parent can take it only from a dumpable process (see listener_dumpable).
		if (c->listener_dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			die(c, JR_STEP_BOX, errno, 1);
		report(c, JR_STEP_BOX_FD, 0, bfd);
		char ack;
		ssize_t got;
		do {
			got = read(c->notify_sync_fd, &ack, 1);
		} while (got < 0 && errno == EINTR);
		if (got != 1)
			_exit(125);
		if (c->listener_dumpable)
			prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		close(bfd);
	}
	// A new session has no controlling terminal, so TIOCSTI cannot push input into the caller's terminal.
	if (setsid() < 0)
		die(c, JR_STEP_SETSID, errno, 0);
	if (c->ctl_fd >= 0)
		wait_command(c);
	if (!c->reaper)
		exec_stage(c);
	if (!(c->clone_flags & CLONE_NEWPID)) {
		// No pid namespace (degraded mode): this process must outlive jailrun's death long enough to kill the
		// command's whole tree (kill_descendants), so it learns of that death from the status pipe, as reap
		// does anyway, and not from a SIGKILL. Had jailrun died already, nothing has started yet.
		if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
			die(c, JR_STEP_SIGNALS, errno, 2);
		struct pollfd gone = {.fd = c->status_fd, .events = POLLOUT};
		if (poll(&gone, 1, 0) == 1 && (gone.revents & (POLLERR | POLLHUP)))
			_exit(125);
	}
	// The command starts as a vfork-style child on a stack of its own: it shares this process's memory until
	// execve, so the copy of jailrun's whole address space that a fork would make (page tables of the Go
	// heap) is never made, and this process waits until the exec or the failure. Not glibc fork(): its atfork
	// handlers take malloc locks another thread of jailrun may have held when clone3 copied the process.
	pid_t cmd = (pid_t)clone(cmd_main, cmd_stack + sizeof cmd_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	if (cmd < 0)
		die(c, JR_STEP_FORK, errno, 0);
	reap(c, cmd);
}

__attribute__((noinline)) void jr_child_addresses(uintptr_t out[3]) {
	volatile char here = 0;
	out[0] = (uintptr_t)&here;
	out[1] = (uintptr_t)cmd_stack;
	out[2] = (uintptr_t)pthread_self(); // the thread's control block, where its TLS (errno) lives
}

int jr_spawn(struct jr_config *c, int *pidfd) {
	pthread_once(&launcher_once, find_launcher_strings);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	struct clone_args a;
	memset(&a, 0, sizeof a);
	a.flags = c->clone_flags | CLONE_PIDFD;
	a.pidfd = (uint64_t)(uintptr_t)pidfd;
	a.exit_signal = SIGCHLD;
	if (c->cgroup_fd >= 0) {
		a.flags |= CLONE_INTO_CGROUP;
		a.cgroup = (uint64_t)c->cgroup_fd;
	}
	struct jr_owner_saved owner;
	jr_owner_enter(c, &owner);
	long pid = syscall(SYS_clone3, &a, sizeof a);
	if (pid < 0 && errno == ENOSYS) {
		// clone3 filtered by an outer seccomp profile (Docker's answers ENOSYS): plain clone does the same
		// without CLONE_INTO_CGROUP. The parent then places the child before it runs anything (cgroup_fd -1
		// tells it so), and the child enters its cgroup namespace after that, not at the clone, so that the
		// namespace is rooted at its own cgroup. Changed before the clone: the child's copy of c sees it.
		uint64_t flags = c->clone_flags;
		if (c->cgroup_fd >= 0) {
			if (flags & CLONE_NEWCGROUP) {
				flags &= ~(uint64_t)CLONE_NEWCGROUP;
				c->unshare_cgroup = 1;
			}
			c->cgroup_fd = -1;
		}
		pid = syscall(SYS_clone, (unsigned long)(flags | CLONE_PIDFD | SIGCHLD), 0, pidfd, 0, 0);
	}
	if (pid == 0)
		child_main(c);
	int e = errno;
	jr_owner_leave(&owner);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid < 0 ? -e : (int)pid;
}
