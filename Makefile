# jailrun — build, demo and the whole test suite. `make help` lists the targets.
GO      ?= go
BIN     := bin/jailrun
PKGS    := ./...
# Tests that need root, namespaces and cgroups fail instead of skipping when this is 1 (CI sets it).
export JAILRUN_REQUIRE_PRIVILEGED ?= 0
# An execution count, not a duration: Go 1.26's fuzz coordinator can report a spurious "context deadline
# exceeded" when a duration ends while a worker is mid-call (go.dev/issue/75804, fixed in Go 1.27), which a
# loaded 2-core CI machine hits. A count has no deadline to race; 30000 execs take 1-10 s per target here.
FUZZTIME ?= 30000x

.PHONY: help deps build demo test vet unit e2e e2e-rootless fuzz fuzz-long bench bench-check static static-check image clean

help:
	@echo "make demo        install build deps if missing, build bin/jailrun, run a sample under the default policy"
	@echo "make test        everything CI runs: vet, unit tests with -race, bounded fuzzing, end-to-end, cgroup v2 VM lane"
	@echo "make build       build bin/jailrun"
	@echo "make e2e-rootless  the end-to-end suite as an unprivileged user (ROOTLESS_USER, created if missing)"
	@echo "make fuzz-long   run each fuzz target for FUZZTIME=10m"
	@echo "make bench       launch-cost benchmarks against bare fork+exec and bubblewrap"
	@echo "make static      build bin/jailrun-static, libseccomp linked in (static-check proves it runs without it)"

# deps installs what a fresh Debian machine lacks: the C toolchain and libseccomp for cgo.
deps:
	@command -v $(GO) >/dev/null || { echo "Go is required (https://go.dev/dl/); not found in PATH" >&2; exit 1; }
	@missing=""; \
	for p in libseccomp-dev libc6-dev gcc pkg-config; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(GO) build -trimpath -o $(BIN) ./cmd/jailrun

demo: build
	@echo '$$ $(BIN) -- /bin/sh -c "echo hello from \$$(hostname) as \$$(id -un); ls /"'
	@$(BIN) -- /bin/sh -c 'echo hello from $$(hostname) as $$(id -un); ls /'
	@echo
	@echo '$$ $(BIN) --json -- /bin/true     # the result object, on stderr'
	@$(BIN) --json -- /bin/true

# staticcheck, pinned here rather than as a go.mod tool dependency so that library users' module graphs do
# not grow its dependencies. The first `make vet` on a machine downloads and builds it (the module cache
# keeps the download, .cache/tools the binary); later runs need no network.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .cache/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck
SC_OUT := .cache/staticcheck

$(STATICCHECK):
	GOBIN=$(CURDIR)/$(@D) GOOS= GOARCH= CGO_ENABLED= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

vet: deps $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@# go.mod and go.sum must be what `go mod tidy` makes of them (direct dependencies not marked // indirect).
	$(GO) mod tidy -diff
	$(GO) vet $(PKGS)
	@# The library and CLI must still build where the launcher cannot run (they say "unsupported platform").
	GOOS=darwin CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) build ./...
	@# ... with the same exported API in each of those builds (stubs in *_other.go return ErrUnsupported);
	@# and no error formatted into another without %w, where errors.Is and errors.As would lose it.
	$(GO) test -count=1 ./internal/apiparity ./internal/errwrap
	@# staticcheck each build; -merge reports code as unused only if no build uses it. The e2e suite (tests/)
	@# is Linux-only (it reads the kernel's Landlock ABI) and is not checked for darwin.
	@mkdir -p $(SC_OUT)
	$(STATICCHECK) -f binary $(PKGS) > $(SC_OUT)/linux
	CGO_ENABLED=0 $(STATICCHECK) -f binary $(PKGS) > $(SC_OUT)/nocgo
	GOOS=darwin CGO_ENABLED=0 $(STATICCHECK) -f binary $$(GOOS=darwin $(GO) list $(PKGS) | grep -v '/tests') > $(SC_OUT)/darwin
	$(STATICCHECK) -merge $(SC_OUT)/linux $(SC_OUT)/nocgo $(SC_OUT)/darwin

# unit runs every package's tests with the race detector, except the end-to-end suite in tests/.
unit: deps
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /tests)

e2e: build
	JAILRUN_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./tests/...

# e2e-rootless runs the end-to-end suite again as an unprivileged user (tests/e2e-rootless.sh says how: as
# root it prepares ROOTLESS_USER with subordinate ids and, on cgroup v1/hybrid, a delegated cgroup, so the
# whole suite runs rootless with every limit). JAILRUN_ROOTLESS=1 tells the tests that root-only skips are
# expected there (they stay skips under JAILRUN_REQUIRE_PRIVILEGED=1), while a missing user namespace is still
# a failure. The test user cannot run the Go toolchain (the module cache is root's), so the test binary and
# the nouserns harness are built here.
ROOTLESS_USER ?= jailrun-e2e
# The subordinate ids given to ROOTLESS_USER (if it has none): high, away from the 100000+ ranges useradd
# hands to ordinary users.
ROOTLESS_SUBIDS ?= 1879048192-1879113727
E2E_TEST := bin/e2e.test
e2e-rootless: build
	$(GO) test -c -o $(E2E_TEST) ./tests
	$(GO) build -o bin/nouserns ./tests/nouserns
	ROOTLESS_USER=$(ROOTLESS_USER) ROOTLESS_SUBIDS=$(ROOTLESS_SUBIDS) JAILRUN_BIN=$(CURDIR)/$(BIN) \
		JAILRUN_NOUSERNS=$(CURDIR)/bin/nouserns tests/e2e-rootless.sh $(CURDIR)/$(E2E_TEST) $(E2E_FLAGS)

# fuzz runs every fuzz target for FUZZTIME (the corpora always run as plain tests in `unit`): the public
# API's in ./fuzz, and the policy parser's own (its fast path against its careful one) in ./policy.
FUZZ_PKGS := ./fuzz/ ./policy/
fuzz: deps
	@for p in $(FUZZ_PKGS); do \
		targets=$$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz' || true); \
		if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets found in $$p" >&2; exit 1; fi; \
		for t in $$targets; do \
			echo "fuzz $$p $$t for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=10m

# The launch benchmarks, paired against bare fork+exec and bubblewrap (a few minutes; see docs/performance.md).
bench: deps
	bench/run.sh

# CI only checks that the benchmarks build and run (a few runs of each); they are never timed assertions.
bench-check: deps
	bench/run.sh --quick

test: vet unit fuzz e2e e2e-rootless bench-check static-check image test-cgroup2

# static links everything, libseccomp included (Debian's libseccomp-dev ships libseccomp.a), into one binary
# that runs on a host without libseccomp: for images built FROM scratch and for copying onto nodes. netgo and
# osusergo keep glibc's NSS (which cannot be linked statically) out of it.
STATIC_BIN := bin/jailrun-static
static: deps
	CGO_ENABLED=1 $(GO) build -trimpath -tags 'netgo osusergo' \
		-ldflags '-linkmode external -extldflags "-static"' -o $(STATIC_BIN) ./cmd/jailrun

# static-check proves it: file and ldd call it static, and it runs a sandboxed command under strict (seccomp
# enforced) in a mount namespace where libseccomp is hidden, where the dynamic build cannot even start.
static-check: static build
	tests/static/check.sh $(STATIC_BIN) $(BIN)

# image builds deploy/image/Containerfile (the static binary on a debootstrapped Debian with g++ and python3)
# with podman, no registry needed, and runs sandboxed commands inside, privileged and not (a few minutes; the
# first build on a machine also debootstraps the base from Debian's mirror, about 4-8 minutes). Part of
# `make test`: CI proves the image builds and sandboxes.
image: static
	@missing=""; for p in podman runc debootstrap; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; fi
	deploy/image/build.sh $(STATIC_BIN)

include tests/vm/vm.mk

clean:
	rm -rf bin .cache
