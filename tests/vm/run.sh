#!/bin/bash
# Runs jailrun's privileged tests on a pure cgroup v2 kernel: a QEMU VM booting Debian's stock kernel with an
# initramfs of our own (tests/vm/init), the repo and the host's /usr shared in over 9p. Why a VM: CI machines of
# this kind run hybrid cgroups (v1 controllers), while most users run pure cgroup v2; and their /dev/kvm is PVM,
# which cannot boot a stock kernel, so we usually emulate (TCG). Recipe and measurements:
# /work/shared/cgroup2-vm.md; usage: tests/vm/README.md.
#
# Invoked by `make test-cgroup2` (tests/vm/vm.mk sets every VM_* variable below and holds their defaults).
#   run.sh            install what is missing, prepare the VM image, build the test binaries, boot, run them
#   run.sh --prepare  only install what is missing and prepare the VM image (kernel, busybox, initramfs)
# Exit status: the guest's (0 all passed, 1 some failed); 125 when the lane itself broke (setup failed, the
# guest crashed or hung past VM_TIMEOUT), so a broken lane can never read as a pass.
set -eu -o pipefail

log() { printf 'vm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 125; }

for v in VM_PKGS VM_TESTFLAGS VM_TEST_TIMEOUT VM_ROOTLESS VM_TIMEOUT VM_CACHE VM_MEM VM_SMP; do
  [ -n "${!v+set}" ] || die "$v is not set: run this through make test-cgroup2 (tests/vm/vm.mk has the defaults)"
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export DEBIAN_FRONTEND=noninteractive

prepare_only=0
case "${1-}" in
  --prepare) prepare_only=1 ;;
  "") ;;
  *) die "unknown argument '$1' (usage: run.sh [--prepare])" ;;
esac

# Paths go on the kernel command line and into QEMU's comma-separated -virtfs options: keep them plain.
plain_path() { case "$1" in /*[!A-Za-z0-9/._+-]*|[!/]*) die "path '$1' must be absolute and plain ([A-Za-z0-9/._+-])" ;; esac; }
plain_path "$repo"
mkdir -p "$VM_CACHE"
VM_CACHE=$(cd "$VM_CACHE" && pwd)
plain_path "$VM_CACHE"

# One lane at a time per cache: a second one would overwrite the binaries and the run config under our feet.
exec 9>"$VM_CACHE/lock"
flock -n 9 || die "another VM lane is using $VM_CACHE"

tmp=$(mktemp -d "$VM_CACHE/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

elapsed() { echo $((SECONDS - $1)); }
t_all=$SECONDS

# --- host packages -------------------------------------------------------------------------------------------
apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return
  log "apt-get update"
  apt-get update -qq
  apt_updated=1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# qemu runs the VM; gcc, libc6-dev, libseccomp-dev and pkg-config link the cgo test binaries statically.
ensure_host_packages() {
  local p missing=()
  for p in qemu-system-x86 gcc libc6-dev libseccomp-dev pkg-config; do
    installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  apt_update
  log "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- kernel and busybox: downloaded, never installed, unpacked once per package version ------------------------

# candidate PKG: set $ver to the version apt would install, after one apt-get update if the lists lack PKG.
# (Functions that may run apt_update set globals instead of printing: in a $(...) subshell the update would
# not be remembered.)
candidate() {
  ver=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2}')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    apt_update
    ver=$(apt-cache policy "$1" | awk '/Candidate:/{print $2}')
  fi
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then die "apt knows no candidate version of $1"; fi
}

# download PKG=VERSION: download the package into the new temp dir $dl and set $deb to its path.
download() {
  dl=$(mktemp -d "$tmp/deb.XXXXXX")
  # Sandbox::User=root: the _apt user cannot write into our cache; apt would only warn about it.
  (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$1" >/dev/null) || die "cannot download $1"
  deb=$(ls "$dl"/*.deb)
  log "fetched $1"
}

# The kernel package is the one linux-image-amd64 points to (its name carries the ABI number, which changes).
resolve_kernel() {
  candidate linux-image-amd64
  pkg=$(apt-cache depends linux-image-amd64="$ver" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$pkg" ] || die "cannot resolve the kernel package of linux-image-amd64 $ver"
  candidate "$pkg"
  dir=$VM_CACHE/kernel/${pkg}_${ver//:/%3a}
}

resolve_busybox() {
  pkg='busybox-static'
  candidate "$pkg"
  dir=$VM_CACHE/busybox/${ver//:/%3a}
}

# Modules the guest loads: the virtio PCI transport and 9p for the shares; overlay and veth for the sandboxes.
guest_modules="virtio_pci 9pnet_virtio 9p overlay veth"

# fetch_kernel and fetch_busybox: resolve, and on a cache miss refresh the package lists first (stale lists can
# name a version the mirror has dropped, as the security suite does with superseded kernels), then download.
fetch_kernel() {
  local ko name order=()
  resolve_kernel
  if [ ! -e "$dir" ]; then apt_update; resolve_kernel; fi
  kernel=$dir
  [ -e "$dir" ] && return
  download "$pkg=$ver"
  mkdir "$dl/x" "$dl/out" "$dl/out/modules"
  # Only what we boot: the kernel, its config (for reference) and the module directories we load from.
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dl/x" --wildcards './boot/vmlinuz-*' './boot/config-*' \
    './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/net/9p/*' \
    './lib/modules/*/kernel/fs/9p/*' './lib/modules/*/kernel/fs/netfs/*' './lib/modules/*/kernel/fs/fscache/*' \
    './lib/modules/*/kernel/fs/overlayfs/*' './lib/modules/*/kernel/drivers/net/veth.ko'
  mv "$dl"/x/boot/vmlinuz-* "$dl/out/vmlinuz"
  mv "$dl"/x/boot/config-* "$dl/out/config"
  # The package has no modules.dep (depmod runs at install time): read each module's depends= from its .modinfo
  # and write load.list, every module after the ones it depends on.
  declare -A file deps
  while IFS= read -r ko; do
    name=$(tr '\0' '\n' <"$ko" | sed -n 's/^name=//p' | head -n1)
    file[$name]=$ko
    deps[$name]=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | head -n1)
  done < <(find "$dl/x" -name '*.ko')
  add_module() {
    local d
    case " ${order[*]} " in *" $1 "*) return ;; esac
    [ -n "${file[$1]-}" ] || die "kernel module $1 is needed but was not unpacked from $pkg"
    for d in ${deps[$1]//,/ }; do add_module "$d"; done
    order+=("$1")
  }
  for name in $guest_modules; do add_module "$name"; done
  for name in "${order[@]}"; do
    mv "${file[$name]}" "$dl/out/modules/"
    basename "${file[$name]}" >>"$dl/out/modules/load.list"
  done
  mkdir -p "$VM_CACHE/kernel"
  mv "$dl/out" "$dir"
  rm -rf "$dl"
}

fetch_busybox() {
  resolve_busybox
  if [ ! -e "$dir" ]; then apt_update; resolve_busybox; fi
  busybox=$dir/busybox
  [ -e "$dir" ] && return
  download "$pkg=$ver"
  dpkg-deb -x "$deb" "$dl/x"
  mkdir "$dl/out"
  mv "$dl/x/bin/busybox" "$dl/out/busybox"
  mkdir -p "$VM_CACHE/busybox"
  mv "$dl/out" "$dir"
  rm -rf "$dl"
}

# --- initramfs: rebuilt every run (under a second) so it always matches tests/vm/init -----------------------------
# The guest's /usr and /etc (and /bin, /lib... where they are not symlinks into /usr) are the host's own, shared
# read-only, so programs run in the guest and in its sandboxes (sh, python3, gcc, java, dynamic glibc binaries)
# are exactly the host's, with the configuration they expect (ld.so.cache, /etc/alternatives, /etc/java-*...).
# busybox lives apart in /vm/bin because /bin belongs to the host share.
host_dirs=()  # top-level host directories shared read-only at the same path
build_initrd() {
  local s=$tmp/initrd d
  mkdir -p "$s"/{vm/bin,vm/modules,root,proc,sys,dev,run,tmp,mnt}
  cp "$here/init" "$s/init" && chmod 755 "$s/init"
  cp "$busybox" "$s/vm/bin/busybox"
  cp "$kernel"/modules/* "$s/vm/modules/"
  host_dirs=(/usr /etc)
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
      ln -s "$(readlink "/$d")" "$s/$d"
    elif [ -d "/$d" ]; then
      host_dirs+=("/$d")
    fi
  done
  initrd=$VM_CACHE/initrd.gz
  (cd "$s" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$initrd.part"
  mv "$initrd.part" "$initrd"
  rm -rf "$s"
}

# --- test binaries, built on the host (Go does not run in the guest) -------------------------------------------
# Static, because the guest's libc is the host's but its loader cache and paths need not match for every library
# libseccomp pulls in; static cgo binaries run anywhere. The manifest tells the guest what to run; a package that
# fails to build is listed as failed, so a broken build can never look like a pass.
static_ldflags='-linkmode external -extldflags -static'
build_tests() {
  local bin=$VM_CACHE/bin manifest=$VM_CACHE/run/manifest pkg dir ntest nxtest label out skipped=""
  rm -rf "$bin" "$VM_CACHE/run"   # stale binaries of packages removed since the last run must not run
  mkdir -p "$bin" "$VM_CACHE/run"
  : >"$manifest"
  cd "$repo"
  # go list -e reports missing packages and packages without Go files (both skipped: not written yet) in .Error
  # instead of failing on them.
  # shellcheck disable=SC2086  # VM_PKGS is a list of package patterns
  go list -e -f '{{.ImportPath}}|{{.Dir}}|{{len .TestGoFiles}}|{{len .XTestGoFiles}}' $VM_PKGS >"$tmp/pkgs" \
    2>"$tmp/build.log" || { cat "$tmp/build.log" >&2; die "go list $VM_PKGS failed"; }
  while IFS='|' read -r pkg dir ntest nxtest; do
    if [ -z "$dir" ] || [ "$ntest$nxtest" = 00 ]; then
      skipped="$skipped ${pkg#github.com/jailrun/jailrun/}"
      continue
    fi
    case "$dir" in "$repo"/*) label=${dir#"$repo"/} ;; *) die "package dir $dir is outside the repo" ;; esac
    out=$bin/$(echo "$label" | tr / _).test
    if go test -c -ldflags "$static_ldflags" -o "$out" "./$label" 2>"$tmp/build.log"; then
      echo "$label|$out" >>"$manifest"
    else
      log "BUILD FAILED: ./$label"; sed 's/^/    /' "$tmp/build.log" >&2
      echo "$label|-" >>"$manifest"
    fi
  done <"$tmp/pkgs"
  [ -z "$skipped" ] || log "skipped (missing or without tests):$skipped"
  [ -s "$manifest" ] || die "none of VM_PKGS has tests: $VM_PKGS"

  # The end-to-end tests in tests/ run the real binary, found through JAILRUN_BIN. If it does not build, they
  # fail on the missing file; it is not counted on its own, so a lane of packages that don't use it can pass.
  jailrun_bin=$bin/jailrun
  if ! go build -ldflags "$static_ldflags" -o "$jailrun_bin" ./cmd/jailrun 2>"$tmp/build.log"; then
    log "BUILD FAILED: ./cmd/jailrun (tests that run JAILRUN_BIN will fail)"; sed 's/^/    /' "$tmp/build.log" >&2
  fi
  # The degraded-mode tests run their commands under tests/nouserns, which the guest cannot build (no Go
  # toolchain there): built here, and named by JAILRUN_NOUSERNS.
  nouserns_bin=$bin/nouserns
  if ! go build -ldflags "$static_ldflags" -o "$nouserns_bin" ./tests/nouserns 2>"$tmp/build.log"; then
    log "BUILD FAILED: ./tests/nouserns (the degraded-mode tests will skip)"; sed 's/^/    /' "$tmp/build.log" >&2
    nouserns_bin=
  fi
}

# shq VALUE: VALUE single-quoted for sh.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

write_config() {
  {
    echo "# Written by tests/vm/run.sh for tests/vm/guest.sh; sourced in the guest."
    echo "VM_REPO=$(shq "$repo")"
    echo "VM_MANIFEST=$(shq "$VM_CACHE/run/manifest")"
    echo "VM_TESTFLAGS=$(shq "$VM_TESTFLAGS")"
    echo "VM_TEST_TIMEOUT=$(shq "$VM_TEST_TIMEOUT")"
    echo "VM_ROOTLESS=$(shq "$VM_ROOTLESS")"
    echo "JAILRUN_BIN=$(shq "$jailrun_bin")"
    echo "JAILRUN_NOUSERNS=$(shq "$nouserns_bin")"
  } >"$VM_CACHE/run/config.sh"
}

# --- boot ------------------------------------------------------------------------------------------------------
boot() {
  local accel mounts="" args=() i=0 d nonce console=$VM_CACHE/console.log qrc=0 rc t0
  # KVM only with real VT-x/AMD-V: a PVM /dev/kvm (kvm_pvm, no vmx/svm flag) hangs a stock kernel for ever.
  if grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -e /sys/module/kvm_pvm ] && [ -w /dev/kvm ]; then
    accel=(-accel kvm -cpu host)
  else
    accel=(-accel 'tcg,thread=multi,tb-size=256' -cpu max)
  fi
  # Each share appears at the same path in the guest, so absolute paths (JAILRUN_BIN, source paths recorded in
  # the test binaries) mean the same thing on both sides. The repo is writable, the host's system dirs are not.
  add_share() {
    args+=(-virtfs "local,path=$2,mount_tag=m$i,security_model=none,multidevs=remap${3-}")
    mounts="$mounts${mounts:+,}$1:$2"
    i=$((i + 1))
  }
  for d in "${host_dirs[@]}"; do add_share ro "$d" ,readonly=on; done
  add_share rw "$repo"
  case "$VM_CACHE/" in "$repo"/*) ;; *) add_share rw "$VM_CACHE" ;; esac
  # The guest echoes this nonce with its exit code, so a test printing a look-alike line cannot fake a result.
  nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  log "booting ($([ "${accel[1]}" = kvm ] && echo kvm || echo 'tcg, software emulation'), timeout ${VM_TIMEOUT}s)"
  t0=$SECONDS
  # --foreground keeps qemu in our process group, so Ctrl-C and CI cancellation reach it too; -k kills a qemu
  # that ignores the TERM. -no-reboot with panic=-1 turns a guest crash into a qemu exit instead of a reboot loop.
  timeout --foreground -k 10 "$VM_TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m "$VM_MEM" -smp "$VM_SMP" \
    -machine q35 -nodefaults -no-user-config -display none -serial stdio -no-reboot \
    -kernel "$kernel/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 vmtest.mounts=$mounts vmtest.run=$here/guest.sh vmtest.arg=$VM_CACHE/run/config.sh vmtest.nonce=$nonce" \
    "${args[@]}" </dev/null | tee "$console" || qrc=$?
  rc=$(tr -d '\r' <"$console" | sed -n "s/^VMTEST-EXIT=\([0-9][0-9]*\) $nonce\$/\1/p" | tail -n1)
  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    log "error: the guest did not finish within VM_TIMEOUT=${VM_TIMEOUT}s; console log: $console"
    exit 125
  fi
  [ -n "$rc" ] || { log "error: the guest ended without reporting an exit code (qemu status $qrc); console log: $console"; exit 125; }
  log "VM ran ${VM_MEM}/${VM_SMP} vCPU for $(elapsed $t0)s; lane total $(elapsed "$t_all")s; guest exit status $rc"
  exit "$rc"
}

t_phase=$SECONDS
ensure_host_packages
fetch_kernel
fetch_busybox
build_initrd
log "VM image ready in $(elapsed "$t_phase")s: $(basename "$kernel"), initramfs $(du -h "$initrd" | cut -f1)"
[ "$prepare_only" = 1 ] && exit 0

command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go is not installed (expected in PATH or /usr/local/go/bin)"
t_phase=$SECONDS
build_tests
write_config
log "test binaries built in $(elapsed "$t_phase")s"
boot
