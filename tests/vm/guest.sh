#!/bin/sh
# Runs inside the cgroup v2 VM, started by tests/vm/init as root in the root cgroup: runs each test binary of
# the manifest (built on the host by tests/vm/run.sh) from its package directory, first as root, then, when
# VM_ROOTLESS=1, as an unprivileged user. Prints one result line per binary and run, then `N passed, N failed`,
# and exits 1 if anything failed.
#
# Each binary gets a fresh cgroup UNIT delegated to it the way systemd delegates on a pure v2 host:
#   root:     /system.slice/vmtest-N.service                 all controllers, like Delegate=yes
#   rootless: /user.slice/user-65534.slice/vmtest-N.service  cpu memory pids, like systemd's user@.service,
#             owned by uid 65534 (the directories, cgroup.procs, cgroup.threads, cgroup.subtree_control)
# Inside it, as a service manages its delegated unit under the "no internal processes" rule (a cgroup with
# processes cannot enable controllers for children), the test process lives in the leaf UNIT/harness and the
# jailrun runs it starts go under the sibling UNIT/runs, named by JAILRUN_CGROUP_PARENT; the test process still
# cannot enable controllers in its own cgroup (tests/vm/selftest checks that).
# Fresh per binary, because what one binary did to its cgroups must not decide the next one's result; a fresh
# TMPDIR too, so passes don't mix.
set -eu
# shellcheck source=/dev/null
. "$1"   # VM_REPO VM_MANIFEST VM_TESTFLAGS VM_TEST_TIMEOUT VM_ROOTLESS JAILRUN_BIN JAILRUN_NOUSERNS, written by run.sh

cg=/sys/fs/cgroup
uid=65534
passed=0 failed=0 n=0 results=

enable_controllers() {  # CGROUP CONTROLLER...
  dir=$1
  shift
  for c in "$@"; do echo "+$c" >"$dir/cgroup.subtree_control"; done
}

mkdir -p "$cg/system.slice" "$cg/user.slice/user-$uid.slice"
# shellcheck disable=SC2046  # the list of controllers
enable_controllers "$cg/system.slice" $(cat "$cg/system.slice/cgroup.controllers")
enable_controllers "$cg/user.slice" cpu memory pids
enable_controllers "$cg/user.slice/user-$uid.slice" cpu memory pids

# What a login session would give the unprivileged user.
mkdir -p "/tmp/home-$uid" "/run/user/$uid"
chown "$uid:$uid" "/tmp/home-$uid" "/run/user/$uid"
chmod 700 "/run/user/$uid"

now() { cut -d' ' -f1 /proc/uptime; }

record() {  # STATUS MODE LABEL DETAIL
  line=$(printf '%-4s %-8s %-28s %s' "$1" "$2" "$3" "$4")
  echo "vm: $line"
  results="$results$line
"
  if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# populated CGROUP: whether any process is still in the cgroup tree (zombies do not count), after up to 1 s
# for processes that are exiting right now.
populated() {
  i=0
  while grep -q 'populated 1' "$1/cgroup.events"; do
    [ $i -lt 10 ] || return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# leftovers CGROUP: what a finished test binary left in its cgroup: processes (a failure: a sandbox or test
# that leaks processes is a bug) and sub-cgroups (only a note: code may keep its own leaf cgroup, as a delegated
# service does). Both are then killed and removed, so the next binary starts clean.
leftovers() {
  left=
  if populated "$1"; then
    # shellcheck disable=SC2044  # the output is the pids in the cgroup.procs files
    for pid in $(find "$1" -name cgroup.procs -exec cat {} +); do
      left="$left $pid($(cat "/proc/$pid/comm" 2>/dev/null))"
    done
  fi
  # The lane's own harness and runs are not worth a note; what the binary created below them is.
  sub=$(find "$1" -mindepth 1 -type d ! -path "$1/harness" ! -path "$1/runs" | sed "s|^$cg||" | tr '\n' ' ')
  [ -z "$sub" ] || echo "vm: note: left cgroups behind: $sub"
  echo 1 >"$1/cgroup.kill"
  populated "$1" && echo "vm: warning: processes in $1 survive cgroup.kill"
  find "$1" -depth -type d -exec rmdir {} + || echo "vm: warning: cannot remove $1"
  [ -z "$left" ] || { echo "vm: left processes behind:$left"; return 1; }
}

# run_one MODE LABEL BINARY: run one test binary from its package directory, in a fresh delegated cgroup and
# with a fresh TMPDIR, as root or as uid 65534.
run_one() {
  mode=$1 label=$2 bin=$3
  n=$((n + 1))
  unit=$cg/system.slice/vmtest-$n.service
  [ "$mode" = root ] || unit=$cg/user.slice/user-$uid.slice/vmtest-$n.service
  tmp=/tmp/vmtest-$n
  mkdir "$unit" "$tmp"
  # The layout described at the top: the test binary in the leaf harness, jailrun's runs under runs.
  mkdir "$unit/harness" "$unit/runs"
  # shellcheck disable=SC2046  # the list of controllers
  enable_controllers "$unit" $(cat "$unit/cgroup.controllers")
  env="JAILRUN_VM=cgroup2 JAILRUN_BIN=$JAILRUN_BIN TMPDIR=$tmp LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin"
  [ -z "$JAILRUN_NOUSERNS" ] || env="$env JAILRUN_NOUSERNS=$JAILRUN_NOUSERNS"
  env="$env JAILRUN_CGROUP_PARENT=${unit#"$cg"}/runs"
  if [ "$mode" = root ]; then
    drop=
    env="$env HOME=/root JAILRUN_REQUIRE_PRIVILEGED=1"
  else
    chown "$uid:$uid" "$tmp" "$unit" "$unit/cgroup.procs" "$unit/cgroup.threads" "$unit/cgroup.subtree_control"
    for d in harness runs; do
      chown "$uid:$uid" "$unit/$d" "$unit/$d/cgroup.procs" "$unit/$d/cgroup.threads" "$unit/$d/cgroup.subtree_control"
    done
    # util-linux setpriv from the host's /usr (busybox's lacks --reuid); caps go with the uid change.
    drop="setpriv --reuid=$uid --regid=$uid --clear-groups --"
    env="$env HOME=/tmp/home-$uid USER=nobody XDG_RUNTIME_DIR=/run/user/$uid JAILRUN_ROOTLESS=1"
  fi
  t0=$(now)
  # The inner sh moves itself into the cgroup while still root, then becomes the test binary.
  # shellcheck disable=SC2086  # $drop, $env and VM_TESTFLAGS are word lists
  if (cd "$VM_REPO/$label" &&
    exec sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$unit/harness" $drop env -i $env \
      "$bin" -test.timeout="$VM_TEST_TIMEOUT" $VM_TESTFLAGS </dev/null); then
    rc=0
  else
    rc=$?
  fi
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }')
  if ! leftovers "$unit"; then
    record FAIL "$mode" "$label" "$secs, exit $rc, left processes behind"
  elif [ $rc = 0 ]; then
    record ok "$mode" "$label" "$secs"
  else
    record FAIL "$mode" "$label" "$secs, exit $rc"
  fi
  rm -rf "$tmp"
}

modes=root
if [ "$VM_ROOTLESS" = 1 ]; then modes="root rootless"; fi
for mode in $modes; do
  echo "vm: === $mode pass"
  while IFS='|' read -r label bin; do
    if [ "$bin" = - ]; then
      # Counted once, in the first pass: it did not build on the host (the build log is above the boot).
      [ "$mode" = root ] && record FAIL build "$label" "did not build"
      continue
    fi
    run_one "$mode" "$label" "$bin"
  done <"$VM_MANIFEST"
done

echo "vm: === results"
printf '%s' "$results" | sed 's/^/vm: /'
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
