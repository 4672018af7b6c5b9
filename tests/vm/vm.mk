# The pure cgroup v2 VM lane (tests/vm/README.md). Included from the top-level Makefile; also works alone:
#   make -f tests/vm/vm.mk test-cgroup2
# Every VM_* variable below can be overridden on the command line, e.g.
#   make test-cgroup2 VM_PKGS=./cgroups VM_TESTFLAGS='-test.v -test.run=TestOOM' VM_ROOTLESS=0

VM_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VM_ROOT := $(abspath $(VM_DIR)/../..)

# Packages whose tests run in the guest; those that do not exist yet or have no tests are skipped.
# tests/vm/selftest proves the guest really is pure cgroup v2, so it always comes first.
VM_PKGS ?= ./tests/vm/selftest ./cgroups ./sandbox ./seccomp ./tests
# Extra flags for every test binary (-test.v, -test.run=..., -test.count=...); words split on spaces.
VM_TESTFLAGS ?=
# -test.timeout of each test binary (Go tests run 5-13x slower under software emulation).
VM_TEST_TIMEOUT ?= 8m
# 1: a second pass as uid 65534 in a delegated cgroup, with JAILRUN_ROOTLESS=1.
VM_ROOTLESS ?= 1
# Seconds the whole VM may run before the lane fails with 125.
VM_TIMEOUT ?= 1500
VM_MEM ?= 2G
VM_SMP ?= 2
# Downloads (per package version), the initramfs, the test binaries and the console log. Gitignored.
VM_CACHE ?= $(VM_ROOT)/.cache/vm

export VM_PKGS VM_TESTFLAGS VM_TEST_TIMEOUT VM_ROOTLESS VM_TIMEOUT VM_MEM VM_SMP VM_CACHE

.PHONY: test-cgroup2 vm-image

# Build the test binaries, boot the VM, run them as root (and rootless); exit 1 if a test failed, 125 if the
# lane itself broke (hung or crashed guest, failed setup).
test-cgroup2:
	$(VM_DIR)/run.sh

# Install what is missing and prepare the VM image (kernel, busybox, initramfs) without running tests.
vm-image:
	$(VM_DIR)/run.sh --prepare
