package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox"
	"github.com/jailrun/jailrun/sandbox/service"
)

// serveProc is a `jailrun serve` started by a test on a unix socket in a temp dir.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	sock   string
	stderr *lockedBuffer
	client *http.Client
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const tinyToken = "tiny-tenant-token-5f0c1d"

// startServe writes cfg to a private file and starts the server with it; it is killed (by its pid) at the
// end of the test if the test did not stop it.
func startServe(t *testing.T, cfg string, args ...string) *serveProc {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "serve.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "jailrun.sock")
	full := append([]string{"serve", "--socket", sock, "--config", cfgPath}, args...)
	s := &serveProc{t: t, sock: sock, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd = jailrunCmd(context.Background(), full...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	s.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 64,
	}}
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := s.get("/healthz"); code == 200 {
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("jailrun serve exited at startup: %v\n%s", s.err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("jailrun serve did not become healthy:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *serveProc) pid() int { return s.cmd.Process.Pid }

type answer struct {
	code   int
	header http.Header
	body   service.RunResponse
	raw    string
	err    error // transport error: no answer
	took   time.Duration
}

func (s *serveProc) run(ctx context.Context, token string, req map[string]any) answer {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return s.post(ctx, h, req)
}

// post sends req to POST /v1/run with the headers h.
func (s *serveProc) post(ctx context.Context, h http.Header, req map[string]any) answer {
	b, _ := json.Marshal(req)
	hr, _ := http.NewRequestWithContext(ctx, "POST", "http://jailrun/v1/run", bytes.NewReader(b))
	for k, v := range h {
		hr.Header[k] = v
	}
	start := time.Now()
	resp, err := s.client.Do(hr)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(raw), err: err, took: time.Since(start)}
	if err == nil {
		if jerr := json.Unmarshal(raw, &a.body); jerr != nil {
			a.err = fmt.Errorf("response is not JSON: %v: %s", jerr, raw)
		}
	}
	return a
}

func (s *serveProc) get(path string) (int, string) {
	resp, err := s.client.Get("http://jailrun" + path)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of one exact sample line of /metrics ("name{labels}"), 0 when absent.
func (s *serveProc) metric(sample string) float64 {
	_, m := s.get("/metrics")
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// term sends SIGTERM to the server (our own child, by pid) and waits for it to exit.
func (s *serveProc) term(within time.Duration) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
		return s.err
	case <-time.After(within):
		s.t.Fatalf("jailrun serve did not exit within %v of SIGTERM:\n%s", within, s.stderr.String())
		return nil
	}
}

// procsExact lists host pids whose whole command line is cmdline (arguments joined by spaces): a shell
// whose script mentions the same words does not count.
func procsExact(cmdline string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") == cmdline {
			pids = append(pids, pid)
		}
	}
	return pids
}

func fdCount(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// keptBPF counts the BPF maps and programs the server keeps for its next runs' SIGXFSZ counters (at most
// 16 pairs, sandbox/fsizecount_linux.go): reused, not leaked. Links, a run's attachment, are not counted.
func keptBPF(pid int) int {
	n := 0
	for _, f := range fdList(pid) {
		if strings.HasSuffix(f, "->anon_inode:bpf-map") || strings.HasSuffix(f, "->anon_inode:bpf-prog") {
			n++
		}
	}
	return n
}

func fdList(pid int) []string {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		out = append(out, e.Name()+"->"+l)
	}
	return out
}

func mountLines(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	return bytes.Count(b, []byte("\n"))
}

// runCgroups lists the run cgroups a jailrun process with this pid still owns, in every hierarchy: their
// names are "jr.<pidns>.<pid>.<start>.<seq>..." (the process's own ".self" leaf is not a run).
func runCgroups(pid int) []string {
	var out []string
	mid := "." + strconv.Itoa(pid) + "."
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Count(p, "/") > 10 {
			return filepath.SkipDir
		}
		name := d.Name()
		if strings.HasPrefix(name, "jr.") && strings.Contains(name, mid) && !strings.HasSuffix(name, ".self") {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// waitCond polls cond for up to d.
func waitCond(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLeaks asserts that, once idle, the server holds no more fds than at baseline, has no run cgroups
// left, has the same mount table, and that no process of the given markers survives.
func checkNoLeaks(t *testing.T, s *serveProc, fdBase, mountBase int, markers ...string) {
	t.Helper()
	s.client.CloseIdleConnections()
	for _, m := range markers {
		if !waitCond(5*time.Second, func() bool { return len(procsMatching(m)) == 0 }) {
			for _, pid := range procsMatching(m) {
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
				t.Errorf("process %d %q survived:\n%s", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}), st)
			}
		}
	}
	if !waitCond(5*time.Second, func() bool { return len(runCgroups(s.pid())) == 0 }) {
		t.Errorf("run cgroups left behind: %v", runCgroups(s.pid()))
	}
	if !waitCond(5*time.Second, func() bool { return fdCount(s.pid())-keptBPF(s.pid()) <= fdBase }) || keptBPF(s.pid()) > 2*16 {
		t.Errorf("server fds: %d at baseline, %d after (%d of them BPF counters kept for reuse, at most 32): %v", fdBase, fdCount(s.pid()), keptBPF(s.pid()), fdList(s.pid()))
	}
	if n := mountLines(s.pid()); n != mountBase {
		t.Errorf("server mount table: %d lines at baseline, %d after", mountBase, n)
	}
	if v := s.metric("jailrun_runs_in_flight"); v != 0 {
		t.Errorf("jailrun_runs_in_flight %v when idle", v)
	}
	if v := s.metric("jailrun_queue_depth"); v != 0 {
		t.Errorf("jailrun_queue_depth %v when idle", v)
	}
}

func loadConfig(maxConc int) string {
	return fmt.Sprintf(`{
  "max_concurrent": %d, "max_queue": 512,
  "tenants": [
    {"name": "load", "uids": [%d], "policies": ["strict", "interpreter", "interactive"], "max_concurrent": %d, "max_queue": 512},
    {"name": "tiny", "token": %q, "policies": ["strict"], "max_concurrent": 1, "max_queue": 0}
  ]
}`, maxConc, os.Getuid(), maxConc, tinyToken)
}

// loadCase is one kind of program in the burst and the one correct answer for it.
type loadCase struct {
	name  string
	req   func(i int) map[string]any
	check func(i int, a answer) error
}

func wantStatus(a answer, st sandbox.Status) error {
	if a.body.Result == nil {
		return fmt.Errorf("no result: %s", a.raw)
	}
	if a.body.Result.Status != st {
		return fmt.Errorf("status %s, want %s: %s", a.body.Result.Status, st, a.raw)
	}
	return nil
}

var loadCases = []loadCase{
	{"normal", func(i int) map[string]any {
		return map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", `read x; echo "$x-$0"`, "jrload-ok-" + strconv.Itoa(i)}, "stdin": fmt.Sprintf("in%d\n", i)}
	}, func(i int, a answer) error {
		if err := wantStatus(a, sandbox.StatusOK); err != nil {
			return err
		}
		// Each request gets its own output back, never another's.
		if want := fmt.Sprintf("in%d-jrload-ok-%d\n", i, i); a.body.Stdout != want {
			return fmt.Errorf("stdout %q, want %q", a.body.Stdout, want)
		}
		return nil
	}},
	{"tle", func(i int) map[string]any {
		return map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "sleep 30.25; :", "jrload-tle"}, "overrides": map[string]any{"wall_time": "200ms"}}
	}, func(i int, a answer) error {
		if err := wantStatus(a, sandbox.StatusWallTimeLimit); err != nil {
			return err
		}
		if a.body.Result.Limit == nil || a.body.Result.Limit.Name != "limits.wall_time" {
			return fmt.Errorf("limit %+v", a.body.Result.Limit)
		}
		return nil
	}},
	{"mle", func(i int) map[string]any {
		return map[string]any{"policy": "interpreter", "argv": []string{"python3", "-c", `x = "x" * (128 << 20)`, "jrload-mle"}, "overrides": map[string]any{"memory": "64M"}}
	}, func(i int, a answer) error {
		if err := wantStatus(a, sandbox.StatusMemoryLimit); err != nil {
			return err
		}
		if a.body.Result.Limit == nil || a.body.Result.Limit.Name != "limits.memory" || a.body.Result.Limit.Value != strconv.Itoa(64<<20) {
			return fmt.Errorf("limit %+v", a.body.Result.Limit)
		}
		return nil
	}},
	{"crash", func(i int) map[string]any {
		return map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "kill -SEGV $$", "jrload-crash"}}
	}, func(i int, a answer) error {
		if err := wantStatus(a, sandbox.StatusSignaled); err != nil {
			return err
		}
		if a.body.Result.Signal != int(syscall.SIGSEGV) {
			return fmt.Errorf("signal %d", a.body.Result.Signal)
		}
		return nil
	}},
	{"exit", func(i int) map[string]any {
		return map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "exit $((7 + $1 % 2))", "jrload-exit", strconv.Itoa(i)}}
	}, func(i int, a answer) error {
		if err := wantStatus(a, sandbox.StatusNonzeroExit); err != nil {
			return err
		}
		if a.body.Result.ExitCode != 7+i%2 {
			return fmt.Errorf("exit code %d, want %d", a.body.Result.ExitCode, 7+i%2)
		}
		return nil
	}},
}

// mix picks the case of request i: half normal, the rest spread over limits, crashes and exits.
func mix(i int) loadCase {
	switch i % 10 {
	case 0, 2, 4, 6, 8:
		return loadCases[0]
	case 1, 7:
		return loadCases[1]
	case 3:
		return loadCases[2]
	case 5, 9:
		if i%20 == 5 {
			return loadCases[4]
		}
		return loadCases[3]
	}
	panic("unreachable")
}

// TestServeLoad sends a bounded burst through the unix socket — 500 requests, 50 at a time, a mix of
// normal, wall-time, memory-limit, crashing and failing programs — while another tenant probes its quota.
// Every request must get exactly one answer, the right one; the quota must answer 429; and afterwards the
// server must hold no more fds, cgroups, mounts or processes than before. Throughput and latency are
// logged as figures, not asserted.
func TestServeLoad(t *testing.T) {
	requirePrivileged(t)
	total, clients := 500, 50
	if inVM() {
		// Pure load in the emulated guest: 500 runs there took the package past its time limit (CI).
		total, clients = 100, 16
	}
	s := startServe(t, loadConfig(16), "--max-concurrent", "16")

	// Warm up every kind of run once, then take the baselines.
	for i, c := range loadCases {
		if a := s.run(context.Background(), "", c.req(i)); a.err != nil || a.code != 200 || c.check(i, a) != nil {
			t.Fatalf("warm-up %s: %v %d %v %s", c.name, a.err, a.code, c.check(i, a), a.raw)
		}
	}
	s.client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	fdBase, mountBase := fdCount(s.pid()), mountLines(s.pid())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	answers := make([]answer, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				answers[i] = s.run(ctx, "", mix(i).req(i))
			}
		}()
	}

	// Meanwhile the "tiny" tenant (1 slot, no queue): while its one run is going, more get 429.
	tinyDone := make(chan answer, 1)
	go func() {
		tinyDone <- s.run(ctx, tinyToken, map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "sleep 1.5; echo tiny", "jrload-tiny"}})
	}()
	if !waitCond(20*time.Second, func() bool { return len(procsMatching("jrload-tiny")) > 0 }) {
		t.Fatal("the tiny tenant's run never started")
	}
	for range 3 {
		a := s.run(ctx, tinyToken, map[string]any{"policy": "strict", "argv": []string{"/bin/true"}})
		if a.code != http.StatusTooManyRequests || a.body.Error == nil || a.body.Error.Kind != service.KindQuota {
			t.Errorf("over-quota request: %d %s", a.code, a.raw)
		}
		if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("429 without a usable Retry-After: %q", a.header.Get("Retry-After"))
		}
	}

	wg.Wait()
	elapsed := time.Since(start)
	if a := <-tinyDone; a.code != 200 || a.body.Stdout != "tiny\n" {
		t.Errorf("the tiny tenant's admitted run: %d %s", a.code, a.raw)
	}

	runIDs := map[string]int{}
	counts := map[string]int{}
	var lat []time.Duration
	bad := 0
	for i, a := range answers {
		c := mix(i)
		counts[c.name]++
		err := a.err
		if err == nil && a.code != 200 {
			err = fmt.Errorf("HTTP %d: %s", a.code, a.raw)
		}
		if err == nil {
			err = c.check(i, a)
		}
		if err == nil {
			if j, dup := runIDs[a.body.Result.RunID]; dup {
				err = fmt.Errorf("run_id %s also answered request %d", a.body.Result.RunID, j)
			}
			runIDs[a.body.Result.RunID] = i
		}
		if err != nil {
			if bad++; bad <= 10 {
				t.Errorf("request %d (%s): %v", i, c.name, err)
			}
			continue
		}
		lat = append(lat, a.took)
	}
	if bad > 0 {
		t.Fatalf("%d of %d requests got a wrong or no answer", bad, total)
	}
	if got := s.metric(`jailrun_runs_total{tenant="load",status="ok"}`); int(got) != counts["normal"]+1 {
		t.Errorf("jailrun_runs_total ok = %v, want %d", got, counts["normal"]+1)
	}
	if got := s.metric(`jailrun_rejected_total{tenant="tiny",reason="quota"}`); got != 3 {
		t.Errorf("jailrun_rejected_total quota = %v, want 3", got)
	}
	if got := s.metric(`jailrun_limit_hits_total{limit="limits.memory"}`); int(got) != counts["mle"]+1 {
		t.Errorf("memory limit hits = %v, want %d", got, counts["mle"]+1)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("load: %d requests (%v), %d clients, server max_concurrent 16, %d CPUs: %.1f runs/s; latency p50 %v, p90 %v, p99 %v, max %v",
		total, counts, clients, runtime.NumCPU(), float64(total)/elapsed.Seconds(), pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))

	checkNoLeaks(t, s, fdBase, mountBase, "jrload", "sleep 30.25")
	if err := s.term(15 * time.Second); err != nil {
		t.Fatalf("jailrun serve exited with %v after SIGTERM:\n%s", err, s.stderr.String())
	}
}

// A client that hangs up mid-run kills its sandbox; the server stays healthy and accounts for it.
func TestServeClientCancel(t *testing.T) {
	requirePrivileged(t)
	s := startServe(t, loadConfig(4))
	if a := s.run(context.Background(), "", loadCases[0].req(0)); a.code != 200 {
		t.Fatalf("warm-up: %d %s", a.code, a.raw)
	}
	s.client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	fdBase, mountBase := fdCount(s.pid()), mountLines(s.pid())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan answer, 1)
	go func() {
		done <- s.run(ctx, "", map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "sleep 1000.5 & sleep 1000.5; wait", "jrcancel"}})
	}()
	if !waitCond(10*time.Second, func() bool { return len(procsExact("sleep 1000.5")) == 2 }) {
		t.Fatal("the run did not start")
	}
	if len(runCgroups(s.pid())) == 0 {
		t.Error("no run cgroup found while the run is going: the leak check below would prove nothing")
	}
	cancel()
	if a := <-done; a.err == nil {
		t.Fatalf("the canceled request got an answer: %d %s", a.code, a.raw)
	}
	waitGone(t, "sleep 1000.5", 5*time.Second)
	if !waitCond(5*time.Second, func() bool { return s.metric(`jailrun_runs_canceled_total{tenant="load"}`) == 1 }) {
		t.Error("the cancellation is not in jailrun_runs_canceled_total")
	}
	if a := s.run(context.Background(), "", loadCases[0].req(1)); a.code != 200 {
		t.Fatalf("after a cancellation: %d %s", a.code, a.raw)
	}
	checkNoLeaks(t, s, fdBase, mountBase, "jrcancel")
}

// SIGTERM under load: running requests finish and are answered, queued ones get 503 shutting_down, new
// connections are refused, and the server exits 0 having cleaned every sandbox and removed its socket.
func TestServeSigtermDrains(t *testing.T) {
	requirePrivileged(t)
	const slots, queued = 8, 4
	s := startServe(t, loadConfig(slots), "--shutdown-grace", "20s")
	answers := make(chan answer, slots+queued)
	for i := range slots {
		go func() {
			answers <- s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "sleep 1.75; echo done $1", "jrterm", strconv.Itoa(i)}})
		}()
	}
	if !waitCond(20*time.Second, func() bool { return len(procsExact("sleep 1.75")) == slots }) {
		t.Fatalf("runs did not start: %d", len(procsExact("sleep 1.75")))
	}
	for range queued {
		go func() {
			answers <- s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": []string{"/bin/true"}})
		}()
	}
	if !waitCond(5*time.Second, func() bool { return s.metric("jailrun_queue_depth") == queued }) {
		t.Fatalf("requests did not queue")
	}
	pid := s.pid()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitCond(5*time.Second, func() bool { _, err := os.Lstat(s.sock); return err != nil }) {
		t.Error("the socket is still there while draining")
	}
	if c, err := net.Dial("unix", s.sock); err == nil {
		c.Close()
		t.Error("a new connection was accepted while draining")
	}
	ok, refused := 0, 0
	for range slots + queued {
		a := <-answers
		switch {
		case a.code == 200 && a.body.Result != nil && a.body.Result.Status == sandbox.StatusOK && strings.HasPrefix(a.body.Stdout, "done "):
			ok++
		case a.code == http.StatusServiceUnavailable && a.body.Error != nil && a.body.Error.Kind == service.KindShuttingDown && a.body.Result == nil:
			refused++
		default:
			t.Errorf("unexpected answer during drain: %v %d %s", a.err, a.code, a.raw)
		}
	}
	if ok != slots || refused != queued {
		t.Errorf("%d finished and %d refused, want %d and %d", ok, refused, slots, queued)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after draining")
	}
	if s.err != nil {
		t.Fatalf("exit: %v\n%s", s.err, s.stderr.String())
	}
	waitGone(t, "jrterm", 2*time.Second)
	if cg := runCgroups(pid); len(cg) > 0 {
		t.Errorf("run cgroups left behind: %v", cg)
	}
	if !strings.Contains(s.stderr.String(), "every run finished") {
		t.Errorf("stderr: %s", s.stderr.String())
	}
}

// SIGTERM with runs that outlast the grace period: they are killed, answered 503 with their partial
// result, cleaned up, and the server exits 0 soon after the grace period.
func TestServeSigtermCancelsAfterGrace(t *testing.T) {
	requirePrivileged(t)
	const n = 6
	s := startServe(t, loadConfig(n), "--shutdown-grace", "500ms")
	answers := make(chan answer, n)
	for range n {
		go func() {
			answers <- s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "sleep 1000.75", "jrgrace"}})
		}()
	}
	if !waitCond(20*time.Second, func() bool { return len(procsExact("sleep 1000.75")) == n }) {
		t.Fatalf("runs did not start")
	}
	pid := s.pid()
	start := time.Now()
	if err := s.term(15 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, s.stderr.String())
	}
	t.Logf("exited %v after SIGTERM with a 500ms grace", time.Since(start).Round(time.Millisecond))
	for range n {
		a := <-answers
		if a.code != http.StatusServiceUnavailable || a.body.Error == nil || a.body.Error.Kind != service.KindShuttingDown ||
			a.body.Result == nil || a.body.Result.Limit == nil || a.body.Result.Limit.Name != "context" {
			t.Errorf("a run killed by the shutdown: %v %d %s", a.err, a.code, a.raw)
		}
	}
	waitGone(t, "sleep 1000.75", 2*time.Second)
	if cg := runCgroups(pid); len(cg) > 0 {
		t.Errorf("run cgroups left behind: %v", cg)
	}
	if !strings.Contains(s.stderr.String(), "canceled") {
		t.Errorf("stderr does not report the cancellation: %s", s.stderr.String())
	}
}

// POST /v1/interact runs a solution and an interactor in two sandboxes joined by their stdio, and
// answers with both verdicts, the interactor's stderr and the transcript.
func TestServeInteract(t *testing.T) {
	requirePrivileged(t)
	s := startServe(t, loadConfig(4))
	body := map[string]any{
		"solution": map[string]any{"policy": "interactive", "argv": sandbox.Shell(`lo=1 hi=100
while :; do
	g=$(( (lo + hi) / 2 )); echo "$g"; read -r r
	case "$r" in "=") exit 0;; "<") hi=$((g - 1));; *) lo=$((g + 1));; esac
done`)},
		"interactor": map[string]any{"policy": "interactive", "overrides": map[string]any{"wall_time": "10s"}, "argv": sandbox.Shell(`n=0
while read -r g; do
	n=$((n + 1))
	if [ "$g" -eq "$1" ]; then echo "="; echo "accepted in $n guesses" >&2; exit 0; fi
	if [ "$1" -lt "$g" ]; then echo "<"; else echo ">"; fi
done
exit 1`, "42")},
		"peer_grace": "1s",
		"transcript": true,
	}
	b, _ := json.Marshal(body)
	resp, err := s.client.Post("http://jailrun/v1/interact", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ir service.InteractResponse
	if err := json.Unmarshal(raw, &ir); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if resp.StatusCode != 200 || ir.Result == nil || ir.Result.Solution.Status != sandbox.StatusOK || ir.Result.Interactor.Status != sandbox.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if ir.InteractorStderr != "accepted in 7 guesses\n" {
		t.Errorf("interactor stderr %q", ir.InteractorStderr)
	}
	lines := 0
	err = sandbox.DecodeTranscript(strings.NewReader(ir.Transcript), func(_ float64, dir string, data []byte, _ bool) error {
		lines++
		return nil
	})
	if err != nil || lines < 14 {
		t.Errorf("transcript (%d records, %v): %q", lines, err, ir.Transcript)
	}
	if got := s.metric(`jailrun_runs_total{tenant="load",status="ok"}`); got != 2 {
		t.Errorf("an interactive run counts both sandboxes: jailrun_runs_total ok = %v", got)
	}
	if cg := runCgroups(s.pid()); len(cg) > 0 {
		t.Errorf("run cgroups left behind: %v", cg)
	}
}

// Startup failures are one clear line with a distinct exit code.
func TestServeStartupErrors(t *testing.T) {
	dir := t.TempDir()
	writeCfg := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		os.Chmod(p, mode)
		return p
	}
	good := writeCfg("good.json", `{"tenants": [{"name": "a", "uids": [0], "policies": ["strict"]}]}`, 0o600)
	badPolicy := writeCfg("badpolicy.json", `{"tenants": [{"name": "a", "uids": [0], "policies": ["no-such-policy"]}]}`, 0o600)
	typo := writeCfg("typo.json", `{"tenants": [{"name": "a", "uids": [0], "polices": ["strict"]}]}`, 0o600)
	writable := writeCfg("writable.json", `{"tenants": [{"name": "a", "uids": [0], "policies": ["strict"]}]}`, 0o666)
	notSock := writeCfg("not-a-socket", "x", 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
		priv bool // fails only after the sandbox runner is up, which needs privileges
	}{
		{"typo in config", []string{"--config", typo}, 120, "unknown field", false},
		{"writable config", []string{"--config", writable}, 120, "writable by group or others", false},
		{"tcp without tokens", []string{"--config", good, "--tcp", "127.0.0.1:0"}, 2, "tokens", false},
		{"bad mode", []string{"--socket-mode", "999"}, 2, "socket-mode", false},
		{"unknown policy", []string{"--config", badPolicy}, 122, "no-such-policy", true},
		// Cannot be read: 122, as for a run's --policy (not 120, which says it is invalid).
		{"missing config", []string{"--config", filepath.Join(dir, "no-such.json")}, 122, "no-such.json", false},
		{"unknown pool policy", []string{"--pool", "no-such-builtin=2"}, 122, "no such built-in policy", true},
		{"remote tcp", []string{"--config", writeCfg("tok.json", `{"tenants": [{"name": "a", "token": "0123456789abcdefgh", "policies": ["strict"]}]}`, 0o600), "--tcp", "0.0.0.0:0"}, 125, "loopback", true},
		{"socket path is a file", []string{"--config", good, "--socket", notSock}, 125, "not a socket", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.priv {
				requirePrivileged(t)
			}
			// A later --socket wins over this default one.
			args := append([]string{"serve", "--socket", filepath.Join(dir, "s.sock")}, tc.args...)
			c := jailrunCmd(context.Background(), args...)
			var errb bytes.Buffer
			c.Stderr = &errb
			done := make(chan error, 1)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- c.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				c.Process.Kill()
				<-done
				t.Fatalf("jailrun serve %v kept running", tc.args)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("want exit %d mentioning %q, got %v: %s", tc.code, tc.want, err, errb.String())
			}
			// One line for the failure; the runner may warn before it (e.g. about stale cgroups it removed).
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
				if !strings.HasPrefix(l, "jailrun: warning: ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "jailrun: ") {
				t.Fatalf("want one line, got %q", errb.String())
			}
		})
	}
}
