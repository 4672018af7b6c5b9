#!/usr/bin/env bash
# bench/run.sh — what a jailrun launch costs, as ratios against bare fork+exec and bubblewrap measured in the
# same run (paired and alternating where possible). Method and figures: docs/performance.md.
#
#   bench/run.sh               full run, a few minutes
#   bench/run.sh --quick       CI: a few runs of everything, only proves that it all builds and runs
#   bench/run.sh --out DIR     also keep every section's output and summary.txt ("key value" lines) in DIR
#
# Needs root (namespaces, cgroups). Installs bubblewrap, hyperfine and GNU time from Debian's packages when
# they are missing. Builds into a temporary directory and removes it, with every process it started.
set -euo pipefail

QUICK=0
OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--out)
		[ $# -ge 2 ] || { echo "bench/run.sh: --out needs a directory" >&2; exit 2; }
		OUT=$2
		shift
		;;
	-h | --help)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench/run.sh: unknown argument $1 (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root: jailrun and the benchmarks create namespaces and cgroups" >&2
	exit 1
fi

# Packages: the comparison peers and the cgo build of jailrun.
missing=""
for p in bubblewrap hyperfine time gcc libc6-dev libseccomp-dev pkg-config; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "== installing:$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
command -v "$GO" >/dev/null || { echo "bench/run.sh: Go is required ($GO not found)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/jailrun-bench.XXXXXX)
BGPIDS=()
cleanup() {
	local p
	for p in "${BGPIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$OUT" ] && [ -d "$WORK/out" ]; then
		mkdir -p "$OUT" && cp -r "$WORK/out/." "$OUT/"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/bin" "$WORK/out"
SUM=$WORK/out/summary.txt
: >"$SUM"

if [ "$QUICK" = 1 ]; then
	N_CLI=3 N_TRACE=3 N_VARIANTS=2 TP_SECONDS=0.4 TP_ROUNDS=2 N_CPU=1 CPU_TARGET_MS=100 BENCHTIME=1x N_FLOOR=10
else
	N_CLI=60 N_TRACE=60 N_VARIANTS=40 TP_SECONDS=8 TP_ROUNDS=8 N_CPU=15 CPU_TARGET_MS=1500 BENCHTIME=60x N_FLOOR=1000
fi

section() { printf '\n== %s\n' "$*"; }
get() { awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "NA" : v) }' "$SUM"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

section "build (into $WORK/bin)"
cd "$ROOT"
"$GO" build -trimpath -o "$WORK/bin/jailrun" ./cmd/jailrun
"$GO" build -trimpath -o "$WORK/bin/" ./bench/cmd/paired ./bench/cmd/tracestat ./bench/cmd/throughput
"${CC:-gcc}" -O2 -Wall -o "$WORK/bin/floor" bench/floor/floor.c
JR=$WORK/bin/jailrun
STRICT=$ROOT/policies/strict.json
BWRAP="bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --ro-bind /bin /bin --ro-bind /lib /lib --ro-bind /lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp"
"$JR" --policy "$STRICT" -- /bin/true
$BWRAP /bin/true
{
	echo "host $(uname -r), $(nproc) CPUs, $(bwrap --version), $("$GO" version | cut -d' ' -f3)"
	echo "cgroup mounts: $(awk '$3 ~ /^cgroup/ { printf "%s(%s) ", $2, $3 }' /proc/mounts)"
	echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/out/host.txt"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
	echo "warning: the machine is busy (load average above 0.5): absolute figures will be noisy; the paired ratios less so" >&2
fi

# Two variants of strict for the cgroup question: its cgroup limits marked best effort, and no cgroup limits
# at all. jailrun still creates a cgroup for accounting when the host has one, so both still attach.
cat >"$WORK/strict-best-effort.json" <<'EOF'
{"version": 1, "name": "strict-limits-best-effort", "extends": "strict", "require": {"best_effort": ["limits"]}}
EOF
grep -v -E '^[[:space:]]*"(memory|pids|cpu_time)":' "$STRICT" |
	sed 's/"name": "strict"/"name": "strict-no-cgroup-limits"/' >"$WORK/strict-no-limits.json"
"$JR" policy check "$WORK/strict-best-effort.json" "$WORK/strict-no-limits.json" >/dev/null

section "1. one-shot CLI latency of /bin/true: bare fork+exec, jailrun (strict), bwrap — paired, $N_CLI rounds"
"$WORK/bin/paired" -n "$N_CLI" -baseline bwrap -label cli -summary "$SUM" \
	"bare=/bin/true" \
	"jailrun=$JR --policy $STRICT -- /bin/true" \
	"bwrap=$BWRAP /bin/true" | tee "$WORK/out/cli.txt"

section "1b. client mode: jailrun --server SOCKET -- /bin/true against a running 'jailrun serve --pool strict=4' — paired with bwrap, $N_CLI rounds"
# The server runs for this section only: its default configuration lets its own uid (root) use every built-in
# policy; the client asks for strict, which the pool keeps prepared. The local CLI is paired again so that
# the two jailrun rows are read against the same bwrap rounds.
SOCK=$WORK/serve.sock
"$JR" serve --socket "$SOCK" --pool strict=4 2>"$WORK/out/serve.log" &
BGPIDS+=($!)
for _ in $(seq 100); do
	[ -S "$SOCK" ] && "$JR" --server "$SOCK" -- /bin/true 2>/dev/null && break
	sleep 0.1
done
"$JR" --server "$SOCK" -- /bin/true
sleep 1 # let the pool refill after the probes
"$WORK/bin/paired" -n "$N_CLI" -baseline bwrap -label client -summary "$SUM" \
	"client=$JR --server $SOCK -- /bin/true" \
	"jailrun=$JR --policy $STRICT -- /bin/true" \
	"bwrap=$BWRAP /bin/true" | tee "$WORK/out/client.txt"
# How many of the client's runs found a prepared sandbox (the pool refills between rounds, not instantly).
res=$WORK/client-result.json
hits=0
for _ in $(seq 20); do
	"$JR" --server "$SOCK" --result "$res" -- /bin/true
	grep -q '"pooled": true' "$res" && hits=$((hits + 1))
done
echo "client.pooled_of_20 $hits" >>"$SUM"
echo "client mode: $hits of 20 sequential runs used a prepared sandbox"
kill "${BGPIDS[-1]}"
wait "${BGPIDS[-1]}" || true
BGPIDS=()

section "2. where the CLI's time goes: --trace-setup over $N_TRACE runs"
"$WORK/bin/tracestat" -n "$N_TRACE" -jailrun "$JR" -label trace -summary "$SUM" -- \
	--policy "$STRICT" -- /bin/true | tee "$WORK/out/trace.txt"

section "3. CLI variants against strict — paired, $N_VARIANTS rounds"
echo "startup = process start, flag parsing and policy loading only ('jailrun policy check')"
"$WORK/bin/paired" -n "$N_VARIANTS" -baseline strict -label variants -summary "$SUM" \
	"strict=$JR --policy $STRICT -- /bin/true" \
	"best-effort=$JR --policy $WORK/strict-best-effort.json -- /bin/true" \
	"no-limits=$JR --policy $WORK/strict-no-limits.json -- /bin/true" \
	"startup=$JR policy check $STRICT" | tee "$WORK/out/variants.txt"

if [ "$QUICK" = 0 ]; then
	section "4. unpaired cross-check: hyperfine -N"
	hyperfine -N --style basic --warmup 3 --runs 50 \
		"$JR --policy $STRICT -- /bin/true" "$BWRAP /bin/true" "/bin/true" 2>&1 | tee "$WORK/out/hyperfine.txt"
fi

section "5. peak RSS of the jailrun CLI"
# VmHWM of the jailrun process itself, read while the sandboxed command still runs.
"$JR" --policy "$STRICT" -- /bin/sleep 1 &
BGPIDS+=($!)
sleep 0.7
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/${BGPIDS[-1]}/status")
wait "${BGPIDS[-1]}"
BGPIDS=()
echo "cli.vmhwm_kib $hwm" >>"$SUM"
# GNU time: ru_maxrss of jailrun and what it waited for (its sandbox is a fork of it).
maxrss=0
for _ in 1 2 3 4 5; do
	m=$(/usr/bin/time -f '%M' "$JR" --policy "$STRICT" -- /bin/true 2>&1 >/dev/null | tail -1)
	[ "$m" -gt "$maxrss" ] && maxrss=$m
done
echo "cli.time_maxrss_kib $maxrss" >>"$SUM"
echo "jailrun CLI: VmHWM $hwm KiB ($(calc %.1f "$hwm/1024") MiB) during a run; /usr/bin/time max RSS $maxrss KiB over 5 runs"

section "6. library throughput of /bin/true: sandbox.Pool (warm) and plain sandbox.Runner vs bare os/exec vs bwrap"
"$WORK/bin/throughput" -seconds "$TP_SECONDS" -rounds "$TP_ROUNDS" -parallel 2 -policy "$STRICT" \
	-modes pool,jailrun,bare,bwrap -label lib -summary "$SUM" -- /bin/true | tee "$WORK/out/throughput.txt"

section "6b. the kernel's floor: strict's namespaces and file system from a minimal C program (bench/floor/floor.c), $N_FLOOR runs each"
# No launcher, cgroup, seccomp, Landlock or supervision: what any sandbox of this shape costs on this machine.
for args in "ns 1" "mounts 1" "mounts 2"; do
	# shellcheck disable=SC2086
	set -- $args
	line=$("$WORK/bin/floor" "$1" "$N_FLOOR" "$2")
	echo "$line"
	echo "$line" | awk -v k="floor.$1.w$2" '{ for (i = 1; i < NF; i++) { if ($(i + 1) == "runs/s,") print k ".runs_per_s", $i; if ($(i + 1) == "ms") print k ".cpu_ms_per_run", $i } }' >>"$SUM"
done | tee "$WORK/out/floor.txt"

section "7. CPU-bound overhead: a ~$((CPU_TARGET_MS / 1000)) s bash loop, bare vs under jailrun — paired, $N_CPU rounds"
loop() { echo "s=\$EPOCHREALTIME; i=0; while ((i<$1)); do ((i++)); done; e=\$EPOCHREALTIME; echo \$(( \${e/./} - \${s/./} ))"; }
us=$(bash -c "$(loop 200000)")
iters=$(awk -v us="$us" -v t="$CPU_TARGET_MS" 'BEGIN { printf "%d", 200000 * t * 1000 / us }')
echo "calibrated: $iters iterations"
"$WORK/bin/paired" -n "$N_CPU" -warmup 1 -inner -baseline bare -label cpu -summary "$SUM" \
	"bare=bash -c '$(loop "$iters")'" \
	"jailrun=$JR --policy $STRICT -- /bin/bash -c '$(loop "$iters")'" | tee "$WORK/out/cpu.txt"

section "8. go test -bench: launch phases through the library (sandbox/bench_test.go), -benchtime $BENCHTIME"
if [ "$QUICK" = 1 ]; then
	"$GO" test -run '^$' -bench . -benchtime 1x -count 1 ./sandbox/ | tee "$WORK/out/gobench.txt"
else
	"$GO" test -run '^$' -bench '^Benchmark(Run|RunAblation|Phases|CgroupAttach)$' -benchtime "$BENCHTIME" -count 1 \
		./sandbox/ | tee "$WORK/out/gobench.txt"
	"$GO" test -run '^$' -bench '^BenchmarkPrepare$' -count 1 ./sandbox/ | tee -a "$WORK/out/gobench.txt"
fi
grep -q '^ok' "$WORK/out/gobench.txt"
# "BenchmarkX/sub-2  N  v ns/op  v unit ..." → "gobench.X/sub.unit v"
awk '/^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); sub(/^Benchmark/, "", n)
	for (i = 3; i < NF; i += 2) print "gobench." n "." $(i + 1), $i }' "$WORK/out/gobench.txt" >>"$SUM"

section "summary (ratios are medians of per-round ratios; absolute times vary by machine and by the hour)"
cli_ratio=$(get cli.jailrun.ratio_vs_bwrap)
tp_seq=$(get lib.sequential.jailrun.runs_per_s)
cpu_whole=$(get cpu.jailrun.ratio_vs_bare)
cpu_inner=$(get cpu.jailrun.inner_ratio_vs_bare)
cpu_min_bare=$(get cpu.bare.inner_min_ms)
cpu_min_jr=$(get cpu.jailrun.inner_min_ms)
{
	printf '%-52s %s\n' "metric" "measured (target)"
	printf '%-52s %s ms / %s ms / %s ms\n' "CLI /bin/true median: bare / jailrun / bwrap" \
		"$(get cli.bare.median_ms)" "$(get cli.jailrun.median_ms)" "$(get cli.bwrap.median_ms)"
	printf '%-52s %s ms / %s ms\n' "CLI /bin/true p90: jailrun / bwrap" "$(get cli.jailrun.p90_ms)" "$(get cli.bwrap.p90_ms)"
	printf '%-52s %s (≤ 1.0)\n' "CLI jailrun / bwrap, median of pairs" "$cli_ratio"
	printf '%-52s %s\n' "CLI bare / bwrap, median of pairs" "$(get cli.bare.ratio_vs_bwrap)"
	printf '%-52s %s ms / %s ms / %s ms\n' "client mode /bin/true median: client / CLI / bwrap" \
		"$(get client.client.median_ms)" "$(get client.jailrun.median_ms)" "$(get client.bwrap.median_ms)"
	printf '%-52s %s (≤ 0.6); CLI in the same rounds %s; %s of 20 runs pooled\n' "client mode / bwrap, median of pairs" \
		"$(get client.client.ratio_vs_bwrap)" "$(get client.jailrun.ratio_vs_bwrap)" "$(get client.pooled_of_20)"
	printf '%-52s prepare %s, cgroup %s, clone %s, init+exec %s, wait %s, outside Run %s\n' \
		"CLI phases, median ms (trace)" "$(get trace.prepare.median_ms)" "$(get trace.cgroup.median_ms)" \
		"$(get trace.clone.median_ms)" "$(get 'trace.init+exec.median_ms')" "$(get trace.wait.median_ms)" \
		"$(get trace.outside.median_ms)"
	printf '%-52s best-effort %s, no cgroup limits %s, startup only %s\n' "CLI variants / strict, median of pairs" \
		"$(get variants.best-effort.ratio_vs_strict)" "$(get variants.no-limits.ratio_vs_strict)" \
		"$(get variants.startup.ratio_vs_strict)"
	printf '%-52s %s runs/s, p50 %s ms, p99 %s ms (≥ 300 runs/s); %s of runs found a prepared sandbox\n' \
		"library sequential, warm Pool" "$(get lib.sequential.pool.runs_per_s)" "$(get lib.sequential.pool.p50_ms)" "$(get lib.sequential.pool.p99_ms)" "$(get lib.pool.hit_ratio)"
	printf '%-52s %s runs/s, p50 %s ms, p99 %s ms\n' \
		"library sequential, plain Runner" "$tp_seq" "$(get lib.sequential.jailrun.p50_ms)" "$(get lib.sequential.jailrun.p99_ms)"
	printf '%-52s %s runs/s, p50 %s ms, p99 %s ms (≥ 400 runs/s)\n' "library 2-way parallel, warm Pool" \
		"$(get lib.parallel2.pool.runs_per_s)" "$(get lib.parallel2.pool.p50_ms)" "$(get lib.parallel2.pool.p99_ms)"
	printf '%-52s %s runs/s, p50 %s ms, p99 %s ms\n' "library 2-way parallel, plain Runner" \
		"$(get lib.parallel2.jailrun.runs_per_s)" "$(get lib.parallel2.jailrun.p50_ms)" "$(get lib.parallel2.jailrun.p99_ms)"
	printf '%-52s bare %s / bwrap %s runs/s sequential; bare %s / bwrap %s parallel\n' "baselines in the same loop" \
		"$(get lib.sequential.bare.runs_per_s)" "$(get lib.sequential.bwrap.runs_per_s)" \
		"$(get lib.parallel2.bare.runs_per_s)" "$(get lib.parallel2.bwrap.runs_per_s)"
	if [ "$tp_seq" != NA ]; then
		printf '%-52s / bwrap %s, / bare %s\n' "library sequential runs/s ratios, plain Runner" \
			"$(calc %.3f "$tp_seq/$(get lib.sequential.bwrap.runs_per_s)")" "$(calc %.4f "$tp_seq/$(get lib.sequential.bare.runs_per_s)")"
	fi
	pool_seq=$(get lib.sequential.pool.runs_per_s)
	pool_par=$(get lib.parallel2.pool.runs_per_s)
	if [ "$pool_seq" != NA ] && [ "$pool_par" != NA ]; then
		printf '%-52s / bwrap %s sequential, %s 2-way parallel\n' "library runs/s ratios, warm Pool" \
			"$(calc %.3f "$pool_seq/$(get lib.sequential.bwrap.runs_per_s)")" "$(calc %.3f "$pool_par/$(get lib.parallel2.bwrap.runs_per_s)")"
	fi
	printf '%-52s warm Pool %s sequential, %s parallel; bwrap %s; the kernel floor %s\n' "CPU per run, ms (all CPUs)" \
		"$(get lib.sequential.pool.cpu_ms_per_run)" "$(get lib.parallel2.pool.cpu_ms_per_run)" \
		"$(get lib.sequential.bwrap.cpu_ms_per_run)" "$(get floor.mounts.w1.cpu_ms_per_run)"
	printf '%-52s %s runs/s sequential, %s with 2 workers (namespaces only: %s sequential)\n' \
		"kernel floor (C: strict's namespaces, file system)" "$(get floor.mounts.w1.runs_per_s)" \
		"$(get floor.mounts.w2.runs_per_s)" "$(get floor.ns.w1.runs_per_s)"
	if [ "$cpu_whole" != NA ]; then
		printf '%-52s whole process %+.2f%%, loop itself %+.2f%% (≤ 1%%)\n' "CPU-bound overhead vs bare, median of pairs" \
			"$(calc %.4f "($cpu_whole-1)*100")" "$(calc %.4f "($cpu_inner-1)*100")"
		# This host's speed moves by ±20 % from one second to the next: the fastest round of each, which the
		# noise can only slow down, is the steadier estimate of what the sandbox itself costs.
		if [ "$cpu_min_bare" != NA ] && [ "$cpu_min_jr" != NA ]; then
			printf '%-52s %+.2f%% (loop itself, fastest of %s rounds each)\n' "CPU-bound overhead vs bare, fastest rounds" \
				"$(calc %.4f "($cpu_min_jr/$cpu_min_bare-1)*100")" "$N_CPU"
		fi
	fi
	printf '%-52s CLI VmHWM %s KiB, CLI+children maxrss %s KiB, library process VmHWM %s KiB (≤ 20 MiB = 20480 KiB)\n' \
		"peak RSS" "$(get cli.vmhwm_kib)" "$(get cli.time_maxrss_kib)" "$(get lib.vmhwm_kib)"
	printf '%-52s clone %s, idmap %s, init %s, seccomp load %s, wait/reap %s; cgroup create %s, attach p50 %s, destroy %s\n' \
		"library phases, median ms (BenchmarkPhases)" "$(get gobench.Phases.clone-ms)" "$(get gobench.Phases.idmap-ms)" \
		"$(get gobench.Phases.init-ms)" "$(get gobench.Phases.seccomp-load-ms)" "$(get gobench.Phases.wait-reap-ms)" \
		"$(get gobench.Phases.cgroup-create-ms)" "$(get gobench.Phases.cgroup-attach-p50-ms)" "$(get gobench.Phases.cgroup-destroy-ms)"
	printf '%-52s parent writes pid p50 %s / p90 %s ms; child writes 0 to tasks p50 %s / p90 %s ms\n' \
		"v1 attach after 20 ms idle (BenchmarkCgroupAttach)" \
		"$(get gobench.CgroupAttach/idle-20ms.parent-writes-pid-p50-ms)" "$(get gobench.CgroupAttach/idle-20ms.parent-writes-pid-p90-ms)" \
		"$(get gobench.CgroupAttach/idle-20ms.child-writes-tid0-p50-ms)" "$(get gobench.CgroupAttach/idle-20ms.child-writes-tid0-p90-ms)"
} | tee "$WORK/out/summary-table.txt"
