# jailrun — build, demo and the whole test suite. `make help` lists the targets.
GO      ?= go
BIN     := bin/jailrun
PKGS    := ./...
# Tests that need root, namespaces and cgroups fail instead of skipping when this is 1 (CI sets it).
export JAILRUN_REQUIRE_PRIVILEGED ?= 0
FUZZTIME ?= 10s

.PHONY: help deps build demo test vet unit e2e fuzz fuzz-long clean

help:
	@echo "make demo        install build deps if missing, build bin/jailrun, run a sample under the default policy"
	@echo "make test        everything CI runs: vet, unit tests with -race, bounded fuzzing, end-to-end, cgroup v2 VM lane"
	@echo "make build       build bin/jailrun"
	@echo "make fuzz-long   run each fuzz target for FUZZTIME=10m"
	@echo "make bench       launch-cost benchmarks against bare fork+exec and bubblewrap"

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

vet: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

# unit runs every package's tests with the race detector, except the end-to-end suite in tests/.
unit: deps
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /tests)

e2e: build
	JAILRUN_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./tests/...

# fuzz runs every fuzz target for FUZZTIME (the corpora always run as plain tests in `unit`).
fuzz: deps
	@targets=$$($(GO) test -list '^Fuzz' ./fuzz/ 2>/dev/null | grep '^Fuzz' || true); \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets found in ./fuzz" >&2; exit 1; fi; \
	for t in $$targets; do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./fuzz/ || exit 1; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=10m

test: vet unit fuzz e2e test-cgroup2

include tests/vm/vm.mk

clean:
	rm -rf bin .cache
