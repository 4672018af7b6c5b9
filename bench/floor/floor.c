// floor — the kernel's own cost of what a strict sandbox asks for, with no launcher around it: how many
// sandboxes of /bin/true a minimal C program starts and reaps per second, and how much CPU each costs the
// whole machine. It is the floor under jailrun's figures in bench/run.sh (docs/performance.md): whatever a
// warm pool spends above it is jailrun's own work (Go, cgroups, seccomp, Landlock, supervision).
//
//   floor LEVEL RUNS WORKERS
//
// LEVEL ns:     clone with strict's namespaces (user, mount, pid, net, ipc, uts, cgroup), write the id maps,
//               and in the child fork and exec /bin/true as pid 1 does.
// LEVEL mounts: the same, plus strict's file system as jailrun builds it: a tmpfs root, /usr bound read-only
//               (bin, lib, lib64 as symlinks when the host has merged /usr, else bound), /etc/ld.so.cache,
//               four small /etc files, proc with nine masked paths, a /dev tmpfs with five device binds, the
//               std* links and /dev/shm, a /tmp tmpfs, the twelve user-namespace ceilings, the host name,
//               pivot_root and the old root detached, the root remounted read-only.
// WORKERS processes run RUNS/WORKERS sandboxes each, one after the other. Output: one line,
//   floor <level> workers <n>: <runs/s> runs/s, <ms> ms CPU per run (all CPUs, from /proc/stat)
//
// Built and run by bench/run.sh (needs root). Not part of jailrun.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int mounts;

static void fail(const char *what) {
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	_exit(3);
}

static void bind(const char *src, const char *dst, unsigned long flags) {
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(dst);
	if (flags && mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
		fail(dst);
}

static void touch(const char *path, const char *content) {
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		fail(path);
	if (content && write(fd, content, strlen(content)) < 0)
		fail(path);
	close(fd);
}

static int merged(const char *dir) {
	char buf[64];
	ssize_t n = readlink(dir, buf, sizeof buf - 1);
	return n > 0;
}

static void rootfs(void) {
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("make / private");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
		fail("root tmpfs");
	if (chdir("/tmp") < 0)
		fail("chdir");
	const char *dirs[] = {"usr", "etc", "proc", "dev", "tmp", "old"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
		if (mkdir(dirs[i], 0755) < 0)
			fail(dirs[i]);
	bind("/usr", "usr", ro);
	const char *top[] = {"bin", "lib", "lib64"};
	for (size_t i = 0; i < 3; i++) {
		char host[16];
		snprintf(host, sizeof host, "/%s", top[i]);
		if (access(host, F_OK) < 0)
			continue;
		if (merged(host)) {
			char to[16];
			snprintf(to, sizeof to, "usr/%s", top[i]);
			if (symlink(to, top[i]) < 0)
				fail(top[i]);
		} else {
			if (mkdir(top[i], 0755) < 0)
				fail(top[i]);
			bind(host, top[i], ro);
		}
	}
	if (access("/etc/ld.so.cache", F_OK) == 0) {
		touch("etc/ld.so.cache", NULL);
		bind("/etc/ld.so.cache", "etc/ld.so.cache", ro);
	}
	touch("etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:1000:1000::/tmp:/bin/sh\n");
	touch("etc/group", "root:x:0:\nsandbox:x:1000:\n");
	touch("etc/hosts", "127.0.0.1 localhost\n");
	touch("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n");
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail("proc");
	const char *masked[] = {"proc/kcore", "proc/keys", "proc/timer_list", "proc/sched_debug", "proc/sysrq-trigger",
	                        "proc/latency_stats", "proc/kallsyms", "proc/acpi", "proc/scsi"};
	for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
		struct stat st;
		if (stat(masked[i], &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", masked[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
				fail(masked[i]);
		} else {
			bind("/dev/null", masked[i], 0);
		}
	}
	if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		fail("dev");
	const char *devs[] = {"null", "zero", "full", "random", "urandom"};
	for (size_t i = 0; i < 5; i++) {
		char host[32], dst[32];
		snprintf(host, sizeof host, "/dev/%s", devs[i]);
		snprintf(dst, sizeof dst, "dev/%s", devs[i]);
		touch(dst, NULL);
		bind(host, dst, 0);
	}
	const char *links[][2] = {{"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"},
	                          {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"}};
	for (size_t i = 0; i < 4; i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			fail(links[i][1]);
	if (mkdir("dev/shm", 0755) < 0)
		fail("dev/shm");
	if (mount("tmpfs", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=16m") < 0)
		fail("dev/shm");
	if (mount(NULL, "dev", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		fail("dev ro");
	if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") < 0)
		fail("tmp");
	if (syscall(SYS_pivot_root, ".", "old") < 0)
		fail("pivot_root");
	if (umount2("/old", MNT_DETACH) < 0)
		fail("umount old root");
	if (chdir("/") < 0)
		fail("chdir /");
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		fail("root ro");
}

static void ceilings(void) {
	const char *names[] = {"max_inotify_instances", "max_inotify_watches", "max_fanotify_groups",
	                       "max_fanotify_marks", "max_user_namespaces", "max_mnt_namespaces", "max_ipc_namespaces",
	                       "max_net_namespaces", "max_pid_namespaces", "max_uts_namespaces",
	                       "max_cgroup_namespaces", "max_time_namespaces"};
	int dir = open("/proc/sys/user", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		fail("/proc/sys/user");
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		int fd = openat(dir, names[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue; // an older kernel without this ceiling
		if (fd < 0 || write(fd, i < 4 ? "128" : "0", i < 4 ? 3 : 1) < 0)
			fail(names[i]);
		close(fd);
	}
	close(dir);
}

static int child(void *arg) {
	int *sync = arg;
	char c;
	if (read(sync[0], &c, 1) != 1)
		_exit(4);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		fail("set ids");
	if (mounts) {
		ceilings();
		if (sethostname("floor", 5) < 0)
			fail("sethostname");
		rootfs();
	}
	pid_t cmd = fork();
	if (cmd < 0)
		fail("fork");
	if (cmd == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(cmd, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		_exit(5);
	return 0;
}

static void idmap(pid_t pid, const char *file, const char *map) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		fail(path);
	close(fd);
}

static char stack[256 * 1024] __attribute__((aligned(16)));

static int one(unsigned base) {
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		fail("pipe");
	int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
	pid_t pid = clone(child, stack + sizeof stack, flags | SIGCHLD, sync);
	if (pid < 0)
		fail("clone");
	char map[32];
	snprintf(map, sizeof map, "0 %u 1", base);
	idmap(pid, "uid_map", map);
	idmap(pid, "setgroups", "deny");
	idmap(pid, "gid_map", map);
	if (write(sync[1], "x", 1) != 1)
		fail("sync");
	close(sync[0]);
	close(sync[1]);
	int st;
	if (waitpid(pid, &st, 0) < 0)
		fail("waitpid");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static unsigned long long busy_ticks(void) {
	unsigned long long v[10] = {0};
	FILE *f = fopen("/proc/stat", "r");
	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	                 &v[6], &v[7]) != 8)
		fail("/proc/stat");
	fclose(f);
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; // all but idle and iowait
}

int main(int argc, char **argv) {
	if (argc != 4 || (strcmp(argv[1], "ns") != 0 && strcmp(argv[1], "mounts") != 0)) {
		fprintf(stderr, "usage: floor ns|mounts RUNS WORKERS\n");
		return 2;
	}
	mounts = strcmp(argv[1], "mounts") == 0;
	int runs = atoi(argv[2]), workers = atoi(argv[3]);
	if (runs < 1 || workers < 1 || workers > 64) {
		fprintf(stderr, "floor: RUNS and WORKERS must be positive (WORKERS at most 64)\n");
		return 2;
	}
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec t0, t1;
	unsigned long long b0 = busy_ticks();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int w = 0; w < workers; w++) {
		pid_t p = fork();
		if (p < 0)
			fail("fork");
		if (p == 0) {
			// Host ids far from any real user's, one per worker (as jailrun gives each live sandbox its own).
			unsigned base = 1879048192u + 65536u + (unsigned)w;
			for (int i = 0; i < runs / workers; i++)
				if (one(base) < 0) {
					fprintf(stderr, "floor: a sandbox failed\n");
					_exit(1);
				}
			_exit(0);
		}
	}
	int bad = 0, st;
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unsigned long long b1 = busy_ticks();
	if (bad)
		return 1;
	int done = runs / workers * workers;
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("floor %s workers %d: %.1f runs/s, %.2f ms CPU per run (all CPUs, from /proc/stat)\n", argv[1], workers,
	       done / secs, (double)(b1 - b0) * 1000.0 / (double)hz / done);
	return 0;
}
