#!/bin/sh
# build.sh STATIC_BIN [TAG]: build the jailrun image with podman (rootful, vfs storage, runc) and check it
# by running one sandboxed command inside, under strict. No registry is needed: the base image is a Debian
# root made with debootstrap from Debian's mirror (cached as localhost/jailrun-base:bookworm).
#
# Why these podman settings on this kind of host: the overlay storage driver needs a kernel and filesystem
# combination the CI machines may lack (vfs always works); crun refuses cgroup v1/hybrid hosts ("cgroups
# in hybrid mode not supported"), runc does not; and the container's default RLIMIT_NPROC/NOFILE are above
# what the machine's own hard limits allow, so they are set explicitly.
set -eu
bin=$1
tag=${2:-localhost/jailrun:dev}
base=localhost/jailrun-base:bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "image: $*" >&2; exit 1; }

command -v podman >/dev/null || fail "podman is not installed (apt-get install podman runc debootstrap)"
command -v runc >/dev/null || fail "runc is not installed (apt-get install runc)"
P="podman --storage-driver vfs --runtime runc"
limits="--ulimit nofile=1024:1024 --ulimit nproc=4096:4096"

# The image's / must be searchable by the sandbox's unprivileged host ids (the init opens /proc/sys/user and
# the bind sources as them). A base cached by an earlier build.sh kept mktemp's 0700: make it anew.
if $P image exists "$base"; then
	mnt=$($P image mount "$base")
	mode=$(stat -c %a "$mnt")
	$P image unmount "$base" >/dev/null
	if [ "$mode" != 755 ]; then
		echo "image: the cached $base has a $mode /, which the sandbox's ids cannot search: making it anew"
		$P rmi -f "$base" >/dev/null
	fi
fi
if ! $P image exists "$base"; then
	command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
	root=$(mktemp -d)
	trap 'rm -rf "$root"' EXIT
	echo "image: debootstrap bookworm (minbase, g++, python3) from $mirror"
	debootstrap --variant=minbase --include=g++,python3 bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
		{ tail -20 "$root.log" >&2; rm -f "$root.log"; fail "debootstrap failed"; }
	rm -f "$root.log"
	rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
	chmod 0755 "$root" # mktemp -d made it 0700, and it becomes the image's /
	tar -C "$root" -c . | $P import - "$base" >/dev/null
	rm -rf "$root"
	trap - EXIT
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/jailrun-static"
cp "$here/Containerfile" "$ctx/Containerfile"
$P build $limits --network none -q -t "$tag" "$ctx" >/dev/null
$P image prune -f >/dev/null # the previous build's image, now untagged (vfs keeps full copies)
echo "image: built $tag ($($P image inspect --format '{{.Size}}' "$tag") bytes)"

# One sandboxed command inside, under strict: the container needs the privileges jailrun needs to build
# namespaces and mounts (see deploy/kubernetes/jailrun.yaml).
out=$($P run --rm --network none $limits --privileged "$tag" --policy strict -- /bin/sh -c 'echo sandboxed as $(id -u) in $(hostname)')
[ "$out" = "sandboxed as 1000 in jailrun" ] || fail "privileged container: unexpected output: $out"
echo "image: privileged container: $out"
out=$($P run --rm --network none $limits --privileged "$tag" --policy compile -- /bin/sh -c \
	'printf "#include <iostream>\nint main(){std::cout<<6*7<<\"\\\\n\";}\n" > m.cpp && g++ -o m m.cpp && ./m')
[ "$out" = "42" ] || fail "compile inside the container: unexpected output: $out"
echo "image: g++ under the compile policy inside the container: $out"

# Without --privileged, the least this host needs (deploy/kubernetes/jailrun.yaml has the same list):
# CAP_SYS_ADMIN (namespaces, mounts), CAP_SYS_PTRACE (pidfd_getfd of the seccomp listener and of the box
# from the sandbox's non-dumpable processes), no runtime seccomp or AppArmor profile in the way of
# unshare and mount, an unmasked /proc (a fresh procfs cannot be mounted over a masked one), and a writable
# cgroup hierarchy for the limits (on this cgroup v1 host, the host's: --cgroupns=host and a rw bind).
unpriv="--cap-add SYS_ADMIN,SYS_PTRACE --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt unmask=ALL --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw"
out=$($P run --rm --network none $limits $unpriv "$tag" --policy strict --result /dev/stderr -- /bin/sh -c 'echo sandboxed as $(id -u)' 2>"$ctx/result.json") ||
	{ cat "$ctx/result.json" >&2; fail "unprivileged container ($unpriv) cannot run strict"; }
grep -q '"seccomp": true' "$ctx/result.json" || fail "unprivileged container: seccomp not enforced"
[ "$out" = "sandboxed as 1000" ] || fail "unprivileged container: unexpected output: $out"
echo "image: unprivileged container ($unpriv): $out, seccomp enforced"
