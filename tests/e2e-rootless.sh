#!/usr/bin/env bash
# The end-to-end suite as an unprivileged user (make e2e-rootless). Usage: tests/e2e-rootless.sh TEST_BINARY
# [test flags...], with JAILRUN_BIN and JAILRUN_NOUSERNS in the environment.
#
# As root it prepares what an operator would give a rootless jailrun user, then drops to that user:
#   - ROOTLESS_USER (default jailrun-e2e), a system user created if missing;
#   - uidmap (newuidmap, newgidmap) and a ROOTLESS_SUBIDS range in /etc/subuid and /etc/subgid, so the sandbox
#     maps to subordinate ids (JAILRUN_REQUIRE_SUBIDS=1 makes their absence a failure);
#   - on a cgroup v1 or hybrid host, a cgroup of its own in each controller hierarchy (chowned, the v1 way to
#     delegate), named in JAILRUN_CGROUP_PARENT: with it the whole suite runs rootless with every limit. On pure
#     cgroup v2 the VM lane (make test-cgroup2) covers a delegated subtree; here the suite then runs without
#     one, and the tests expect policies that require limits to be refused.
# Run by anyone else, it runs the suite as the caller, with whatever JAILRUN_CGROUP_PARENT the caller set.
# The cgroups are removed afterwards; one that still holds a process fails the lane.
set -euo pipefail

test_bin=$1
shift
user=${ROOTLESS_USER:-jailrun-e2e}
subids=${ROOTLESS_SUBIDS:-1879048192-1879113727}
env=(PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 JAILRUN_ROOTLESS=1
  "JAILRUN_REQUIRE_PRIVILEGED=${JAILRUN_REQUIRE_PRIVILEGED:-}" "JAILRUN_BIN=$JAILRUN_BIN"
  "JAILRUN_NOUSERNS=$JAILRUN_NOUSERNS")
drop=()
cgdirs=()

cleanup() {
  local rc=$? d
  for d in "${cgdirs[@]}"; do
    [ -d "$d" ] || continue
    # Children jailrun left are a bug only if they hold processes; empty ones (a stale run cgroup after a
    # killed test) are removed with the rest.
    if [ -n "$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)" ]; then
      echo "e2e-rootless: processes left in $d:" >&2
      find "$d" -name cgroup.procs -exec grep -H . {} + >&2 || true
      rc=1
      continue
    fi
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || { echo "e2e-rootless: cannot remove $d" >&2; rc=1; }
  done
  rm -rf "${home:-}"
  exit $rc
}
trap cleanup EXIT

home=$(mktemp -d)
chmod 0777 "$home"
env+=("HOME=$home")

if [ "$(id -u)" = 0 ]; then
  id -u "$user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  if ! dpkg -s uidmap >/dev/null 2>&1; then
    echo "e2e-rootless: installing uidmap (newuidmap, newgidmap)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq uidmap >/dev/null
  fi
  grep -q "^$user:" /etc/subuid 2>/dev/null || usermod --add-subuids "$subids" "$user"
  grep -q "^$user:" /etc/subgid 2>/dev/null || usermod --add-subgids "$subids" "$user"
  env+=(JAILRUN_REQUIRE_SUBIDS=1)
  uid=$(id -u "$user") gid=$(id -g "$user")
  drop=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --)
  if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
    name=jailrun-e2e-$$
    declare -A seen=()
    for c in memory pids cpu cpuacct cpuset blkio; do
      [ -d "/sys/fs/cgroup/$c" ] || continue
      h=$(realpath "/sys/fs/cgroup/$c") # co-mounted controllers (cpu,cpuacct) share one hierarchy
      [ -z "${seen[$h]:-}" ] || continue
      seen[$h]=1
      mkdir "$h/$name"
      cgdirs+=("$h/$name")
      if [ -f "$h/cpuset.cpus" ]; then
        cat "$h/cpuset.cpus" >"$h/$name/cpuset.cpus"
        cat "$h/cpuset.mems" >"$h/$name/cpuset.mems"
      fi
      chown "$uid:$gid" "$h/$name" "$h/$name/cgroup.procs" "$h/$name/tasks"
    done
    env+=("JAILRUN_CGROUP_PARENT=/$name")
    echo "e2e-rootless: as $user, subordinate ids, cgroup v1 delegated at /$name"
  else
    echo "e2e-rootless: as $user, subordinate ids, no delegated cgroup (pure cgroup v2: see make test-cgroup2)"
  fi
else
  [ -z "${JAILRUN_CGROUP_PARENT:-}" ] || env+=("JAILRUN_CGROUP_PARENT=$JAILRUN_CGROUP_PARENT")
  echo "e2e-rootless: as $(id -un)"
fi

cd "$(dirname "$0")"
"${drop[@]}" env -i "${env[@]}" "$test_bin" -test.count=1 "$@"
