#!/bin/sh
# check.sh STATIC_BIN [DYNAMIC_BIN]: the static jailrun needs no shared library at all. It checks that
# file(1) and ldd(1) call the binary static, then hides libseccomp in a private mount namespace (an empty
# file bind-mounted over the library) and runs a sandboxed command under the strict policy there. With
# DYNAMIC_BIN, it first shows that the hiding works: the dynamically linked jailrun cannot start in it.
set -eu
bin=$1
dyn=${2:-}
fail() { echo "static-check: $*" >&2; exit 1; }

[ -x "$bin" ] || fail "$bin is not an executable (run make static)"
file "$bin" | grep -q 'statically linked' || fail "file(1) does not call $bin static: $(file "$bin")"
if ldd "$bin" >/dev/null 2>&1; then
	fail "ldd lists libraries for $bin: $(ldd "$bin" 2>&1 | tr '\n' ' ')"
fi
[ "$(id -u)" = 0 ] || fail "needs root for unshare -m and the bind mount"

lib=""
for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /lib64 /usr/lib /lib; do
	if [ -e "$d/libseccomp.so.2" ]; then lib=$(readlink -f "$d/libseccomp.so.2"); break; fi
done
# In the namespace: hide the library (if this host has one) with an overlay whose upper layer has a whiteout
# for it, prove it is hidden, run the static binary. (A bind mount over the file would not do: the sandbox's
# own non-recursive bind of /usr refuses to reveal what a locked submount covers.)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
unshare -m sh -eu -c '
	lib=$1 bin=$2 dyn=$3 t=$4
	if [ -n "$lib" ]; then
		top=/$(echo "$lib" | cut -d/ -f2)
		rel=${lib#"$top"/}
		mount -t tmpfs tmpfs "$t"
		mkdir -p "$t/upper/$(dirname "$rel")" "$t/work"
		mknod "$t/upper/$rel" c 0 0
		mount -t overlay overlay -o "lowerdir=$top,upperdir=$t/upper,workdir=$t/work" "$top"
		[ ! -e "$lib" ] || { echo "static-check: $lib is still there" >&2; exit 1; }
		echo "static-check: $lib hidden (overlay whiteout over $top)"
		if [ -n "$dyn" ]; then
			if "$dyn" --version >/dev/null 2>&1; then
				echo "static-check: the dynamic jailrun still starts: the library is not hidden" >&2; exit 1
			fi
			echo "static-check: the dynamic jailrun cannot start here: $("$dyn" --version 2>&1 | head -1)"
		fi
	else
		echo "static-check: no libseccomp.so.2 on this host; running as is"
	fi
	res=$t.result.json
	trap "rm -f $res" EXIT
	out=$("$bin" --policy strict --result "$res" -- /bin/sh -c "echo sandboxed as \$(id -u)") || {
		echo "static-check: the static jailrun failed:" >&2; cat "$res" >&2; exit 1; }
	[ "$out" = "sandboxed as 1000" ] || { echo "static-check: unexpected output: $out" >&2; exit 1; }
	grep -q "\"seccomp\": true" "$res" || { echo "static-check: seccomp was not enforced:" >&2; cat "$res" >&2; exit 1; }
	rm -f "$res"
	echo "static-check: $out, seccomp enforced, under strict, without libseccomp"
' sh "$lib" "$bin" "$dyn" "$t"
