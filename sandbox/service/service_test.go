package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// fakeRunner stands in for the launcher so that admission, identity, shutdown and the wire format can be
// tested without privileges. argv[0] selects the behaviour.
type fakeRunner struct {
	mu      sync.Mutex
	last    *policy.Settings
	started chan string   // receives argv[1] of every "block" run once it runs
	release chan struct{} // closing it ends "block" runs normally
}

func newFake() *fakeRunner {
	return &fakeRunner{started: make(chan string, 100), release: make(chan struct{})}
}

func (f *fakeRunner) Run(ctx context.Context, req sandbox.Request) (*sandbox.Result, error) {
	f.mu.Lock()
	f.last = req.Policy
	f.mu.Unlock()
	res := &sandbox.Result{SchemaVersion: sandbox.SchemaVersion, RunID: "fake", Status: sandbox.StatusOK,
		Policy: sandbox.PolicyInfo{Name: req.Policy.Name, SHA256: req.Policy.SHA256}}
	switch req.Argv[0] {
	case "echo":
		if req.Stdin != nil && req.Stdout != nil {
			io.Copy(req.Stdout, req.Stdin)
		}
	case "spam":
		if req.Stdout != nil {
			req.Stdout.Write([]byte("0123456789"))
			req.Stdout.Write([]byte{0xff, 0x00, 0xfe})
		}
	case "tle":
		// As a real run jailrun killed at its wall-clock limit.
		res.Status, res.ExitCode, res.Signal, res.SignalName = sandbox.StatusWallTimeLimit, -1, 9, "SIGKILL"
		res.Limit = &sandbox.LimitHit{Name: "limits.wall_time", Value: "1s"}
	case "notfound":
		return nil, fmt.Errorf("%w: notfound does not exist inside the sandbox", sandbox.ErrNotFound)
	case "block":
		tag := ""
		if len(req.Argv) > 1 {
			tag = req.Argv[1]
		}
		f.started <- tag
		select {
		case <-f.release:
		case <-ctx.Done():
			// What the launcher does: kill the sandbox, name the context as the limit.
			res.Status, res.Signal = sandbox.StatusSignaled, 9
			res.Limit = &sandbox.LimitHit{Name: "context", Value: context.Cause(ctx).Error()}
		}
	}
	return res, nil
}

func (f *fakeRunner) lastPolicy() *policy.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

const testToken = "0123456789abcdef-token"

// testServer serves cfg on a unix socket in a temp dir with a fake runner.
type testServer struct {
	srv    *Server
	fake   *fakeRunner
	sock   string
	client *http.Client
	done   chan error
}

func startServer(t *testing.T, cfgJSON string) *testServer {
	t.Helper()
	cfg, err := ParseConfig([]byte(cfgJSON))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	fake := newFake()
	srv, err := New(Options{Runner: fake, Config: cfg, KillWait: 5 * time.Second, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := ListenUnix(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, fake: fake, sock: sock, done: make(chan error, 1)}
	ts.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	go func() { ts.done <- srv.Serve(l) }()
	t.Cleanup(func() {
		select {
		case <-fake.release:
		default:
			close(fake.release)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ts
}

type reply struct {
	code   int
	header http.Header
	body   RunResponse
	raw    string
}

func (ts *testServer) post(t *testing.T, ctx context.Context, token, body string) reply {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://jailrun/v1/run", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return reply{code: -1, raw: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("response is not a RunResponse: %v\n%s", err, b)
	}
	return r
}

func (ts *testServer) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://jailrun"+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func myTenants(extra string) string {
	return fmt.Sprintf(`{"max_concurrent": 4, "max_queue": 8, "tenants": [
		{"name": "me", "uids": [%d], "policies": ["strict"], "max_concurrent": 2, "max_queue": 2},
		{"name": "tok", "token": %q, "policies": ["strict", "interpreter"], "limits": {"wall_time": "5s"}}%s]}`,
		os.Geteuid(), testToken, extra)
}

func waitStarted(t *testing.T, f *fakeRunner, want string) {
	t.Helper()
	select {
	case got := <-f.started:
		if got != want {
			t.Fatalf("run %q started, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("run %q never started", want)
	}
}

func TestRequestsAndErrors(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		token string
		body  string
		code  int
		kind  string
		check func(t *testing.T, r reply)
	}{
		{"peer uid is a tenant", "", `{"policy": "strict", "argv": ["echo"], "stdin": "hi\n"}`, 200, "", func(t *testing.T, r reply) {
			if r.body.Stdout != "hi\n" || r.body.Result == nil || r.body.Result.Status != sandbox.StatusOK || r.body.Encoding != "text" {
				t.Fatalf("%s", r.raw)
			}
		}},
		{"base64 stdin and output", "", `{"policy": "strict", "argv": ["echo"], "stdin_base64": "` + base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}) + `", "capture": {"encoding": "base64"}}`, 200, "", func(t *testing.T, r reply) {
			if b, _ := base64.StdEncoding.DecodeString(r.body.Stdout); !bytes.Equal(b, []byte{0, 1, 0xff}) || r.body.Encoding != "base64" {
				t.Fatalf("%s", r.raw)
			}
		}},
		{"capture cap truncates what is returned", "", `{"policy": "strict", "argv": ["spam"], "capture": {"stdout_max": 4}}`, 200, "", func(t *testing.T, r reply) {
			if r.body.Stdout != "0123" || !r.body.StdoutTruncated {
				t.Fatalf("%s", r.raw)
			}
		}},
		{"capture 0 returns nothing", "", `{"policy": "strict", "argv": ["spam"], "capture": {"stdout_max": 0}}`, 200, "", func(t *testing.T, r reply) {
			if r.body.Stdout != "" || r.body.StdoutTruncated {
				t.Fatalf("%s", r.raw)
			}
		}},
		{"a limit verdict is a 200", "", `{"policy": "strict", "argv": ["tle"]}`, 200, "", func(t *testing.T, r reply) {
			if r.body.Result.Status != sandbox.StatusWallTimeLimit {
				t.Fatalf("%s", r.raw)
			}
		}},
		{"token picks its tenant", testToken, `{"policy": "interpreter", "argv": ["echo"]}`, 200, "", nil},
		{"unknown token", "wrong-token-0123456789", `{"policy": "strict", "argv": ["echo"]}`, 401, KindUnauthenticated, func(t *testing.T, r reply) {
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		}},
		{"policy outside the allowlist", "", `{"policy": "interpreter", "argv": ["echo"]}`, 403, KindForbidden, nil},
		{"policy file path outside the allowlist", "", `{"policy": "/etc/passwd", "argv": ["echo"]}`, 403, KindForbidden, nil},
		{"loosening override", "", `{"policy": "strict", "argv": ["echo"], "overrides": {"memory": "1G"}}`, 422, KindPolicy, func(t *testing.T, r reply) {
			if !strings.Contains(r.body.Error.Message, "limits.memory") {
				t.Fatalf("error does not name the field: %s", r.raw)
			}
		}},
		{"override above the tenant cap", testToken, `{"policy": "strict", "argv": ["echo"], "overrides": {"wall_time": "10s"}}`, 422, KindPolicy, nil},
		{"unknown field", "", `{"policy": "strict", "argv": ["echo"], "overides": {}}`, 400, KindBadRequest, nil},
		{"trailing data", "", `{"policy": "strict", "argv": ["echo"]} {}`, 400, KindBadRequest, nil},
		{"no argv", "", `{"policy": "strict"}`, 400, KindBadRequest, nil},
		{"both stdins", "", `{"policy": "strict", "argv": ["echo"], "stdin": "", "stdin_base64": ""}`, 400, KindBadRequest, nil},
		{"bad size unit", "", `{"policy": "strict", "argv": ["echo"], "overrides": {"memory": "64MB"}}`, 400, KindBadRequest, nil},
		// Values a policy file could not hold are refused in the policy language's words, as jailrun run's
		// flags are; 0 is refused rather than read as "no override".
		{"override below the policy minimum", "", `{"policy": "strict", "argv": ["echo"], "overrides": {"memory": "1K"}}`, 422, KindPolicy, func(t *testing.T, r reply) {
			if !strings.Contains(r.body.Error.Message, "limits.memory: 1024 is below the minimum of 1M") {
				t.Fatalf("error does not say why: %s", r.raw)
			}
		}},
		{"zero override", "", `{"policy": "strict", "argv": ["echo"], "overrides": {"pids": 0}}`, 400, KindBadRequest, func(t *testing.T, r reply) {
			if !strings.Contains(r.body.Error.Message, "overrides.pids: 0 is out of range") {
				t.Fatalf("error does not say why: %s", r.raw)
			}
		}},
		{"zero output override", "", `{"policy": "strict", "argv": ["echo"], "overrides": {"output": {"stdout": 0}}}`, 400, KindBadRequest, nil},
		// JSON text is UTF-8: bytes that are not would reach the command as U+FFFD, so they are refused.
		{"argv not UTF-8", "", "{\"policy\": \"strict\", \"argv\": [\"echo\", \"\xff\"]}", 400, KindBadRequest, func(t *testing.T, r reply) {
			if !strings.Contains(r.body.Error.Message, "UTF-8") {
				t.Fatalf("error does not say why: %s", r.raw)
			}
		}},
		{"lone surrogate escape", "", `{"policy": "strict", "argv": ["echo", "\udcff"]}`, 400, KindBadRequest, nil},
		{"surrogate pair escape", "", `{"policy": "strict", "argv": ["echo", "\ud83d\ude00", "\\udcff"]}`, 200, "", nil},
		{"capture above the server cap", "", `{"policy": "strict", "argv": ["echo"], "capture": {"stdout_max": 1099511627776}}`, 400, KindBadRequest, nil},
		{"command not found", "", `{"policy": "strict", "argv": ["notfound"]}`, 422, KindNotFound, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.post(t, ctx, tc.token, tc.body)
			if r.code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", r.code, tc.code, r.raw)
			}
			if tc.kind != "" && (r.body.Error == nil || r.body.Error.Kind != tc.kind) {
				t.Fatalf("error kind, want %q: %s", tc.kind, r.raw)
			}
			if tc.kind == "" && r.body.Error != nil {
				t.Fatalf("unexpected error: %s", r.raw)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestOverridesReachTheRunner(t *testing.T) {
	ts := startServer(t, myTenants(""))
	strict, _ := policy.Builtin("strict")
	r := ts.post(t, context.Background(), testToken, `{"policy": "strict", "argv": ["echo"], "overrides": {"memory": "64M", "wall_time": 1500, "pids": 4}}`)
	if r.code != 200 {
		t.Fatalf("%s", r.raw)
	}
	got := ts.fake.lastPolicy()
	// wall_time: tenant cap 5s, then the request's 1.5 s.
	if got.Limits.Memory != 64<<20 || got.Limits.WallTime != 1500*time.Millisecond || got.Limits.Pids != 4 {
		t.Fatalf("runner got limits %+v", got.Limits)
	}
	if got.SHA256 == strict.SHA256 || r.body.Result.Policy.SHA256 != got.SHA256 {
		t.Fatalf("tightened policy digest %s, base %s", got.SHA256, strict.SHA256)
	}
	// The shared compiled policy is untouched for the next caller.
	r = ts.post(t, context.Background(), "", `{"policy": "strict", "argv": ["echo"]}`)
	if got := ts.fake.lastPolicy(); r.code != 200 || got.Limits.Memory != strict.Limits.Memory || got.Limits.WallTime != strict.Limits.WallTime {
		t.Fatalf("a previous request's overrides leaked: %+v", got.Limits)
	}
}

// Paths and methods the API does not have get a JSON error too, as every other answer.
func TestUnknownEndpoint(t *testing.T) {
	ts := startServer(t, myTenants(""))
	for _, tc := range []struct {
		method, path string
		code         int
		kind, allow  string
	}{
		{"GET", "/v1/nosuch", 404, KindNoEndpoint, ""},
		{"GET", "/v1/run", 405, KindMethod, "POST"},
		{"PUT", "/healthz", 405, KindMethod, "GET"},
	} {
		req, _ := http.NewRequest(tc.method, "http://jailrun"+tc.path, nil)
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error *APIError }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || err != nil || body.Error == nil || body.Error.Kind != tc.kind || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: HTTP %d, Allow %q, %+v (%v); want %d %s, Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body.Error, err, tc.code, tc.kind, tc.allow)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(`{"max_request_bytes": 1024, "tenants": [{"name": "me", "uids": [%d], "policies": ["strict"]}]}`, os.Geteuid()))
	r := ts.post(t, context.Background(), "", `{"policy": "strict", "argv": ["echo"], "stdin": "`+strings.Repeat("x", 2048)+`"}`)
	if r.code != http.StatusRequestEntityTooLarge || r.body.Error.Kind != KindTooLarge {
		t.Fatalf("%d %s", r.code, r.raw)
	}
}

func TestPeerNotATenant(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(`{"tenants": [{"name": "other", "uids": [%d], "policies": ["strict"]}]}`, os.Geteuid()+1))
	r := ts.post(t, context.Background(), "", `{"policy": "strict", "argv": ["echo"]}`)
	if r.code != http.StatusForbidden || !strings.Contains(r.body.Error.Message, "not a tenant") {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	if code, _ := ts.get(t, "/metrics", ""); code != http.StatusForbidden {
		t.Fatalf("metrics for a non-tenant: %d", code)
	}
}

func TestTCPNeedsAToken(t *testing.T) {
	cfg, err := ParseConfig([]byte(myTenants("")))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Runner: newFake(), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ListenTCP("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	url := "http://" + l.Addr().String() + "/v1/run"
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {testToken, 200}} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"policy": "strict", "argv": ["echo"]}`))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("token %q over TCP: %d, want %d", tc.token, resp.StatusCode, tc.code)
		}
	}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "example.com:80"} {
		if l, err := ListenTCP(addr, false); err == nil {
			l.Close()
			t.Errorf("ListenTCP(%s) without allowRemote succeeded", addr)
		}
	}
}

func TestQuotaAndQueue(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(`{"max_concurrent": 2, "max_queue": 1, "tenants": [
		{"name": "me", "uids": [%d], "policies": ["strict"], "max_concurrent": 1, "max_queue": 1},
		{"name": "tok", "token": %q, "policies": ["strict"], "max_concurrent": 2, "max_queue": 5}]}`, os.Geteuid(), testToken))
	ctx := context.Background()
	results := make(chan reply, 10)
	go func() { results <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "me-1"]}`) }()
	waitStarted(t, ts.fake, "me-1")
	// me: 1 running; the next one queues, the one after is over quota.
	go func() { results <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "me-2"]}`) }()
	waitFor(t, func() bool { _, q := ts.srv.sched.tenantStats(ts.srv.tenants[0].slots); return q == 1 })
	r := ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "me-3"]}`)
	if r.code != http.StatusTooManyRequests || r.body.Error.Kind != KindQuota {
		t.Fatalf("over quota: %d %s", r.code, r.raw)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// tok: takes the second global slot; its next request finds the global queue (1) already full.
	go func() { results <- ts.post(t, ctx, testToken, `{"policy": "strict", "argv": ["block", "tok-1"]}`) }()
	waitStarted(t, ts.fake, "tok-1")
	r = ts.post(t, ctx, testToken, `{"policy": "strict", "argv": ["block", "tok-2"]}`)
	if r.code != http.StatusServiceUnavailable || r.body.Error.Kind != KindQueueFull || r.header.Get("Retry-After") == "" {
		t.Fatalf("global queue full: %d %s", r.code, r.raw)
	}
	close(ts.fake.release)
	for range 3 {
		if r := <-results; r.code != 200 {
			t.Fatalf("admitted request: %d %s", r.code, r.raw)
		}
	}
	_, m := ts.get(t, "/metrics", "")
	for _, want := range []string{
		`jailrun_rejected_total{tenant="me",reason="quota"} 1`,
		`jailrun_rejected_total{tenant="tok",reason="queue_full"} 1`,
		`jailrun_runs_total{tenant="me",status="ok"} 2`,
		`jailrun_runs_in_flight 0`,
		`jailrun_queue_depth 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A tenant at its quota with requests queued must not hold back another tenant's request when a global
// slot frees up.
func TestSchedulerSkipsSaturatedTenants(t *testing.T) {
	s := newSched(2, 10)
	a := &tenantSlots{max: 1, maxQueue: 5}
	b := &tenantSlots{max: 1, maxQueue: 5}
	ctx := context.Background()
	relA, err := s.acquire(ctx, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	relB, err := s.acquire(ctx, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	go func() { r, _ := s.acquire(ctx, a, 1); got <- "a2"; r() }()
	waitFor(t, func() bool { _, q := s.tenantStats(a); return q == 1 })
	go func() { r, _ := s.acquire(ctx, b, 1); got <- "b2"; r() }()
	waitFor(t, func() bool { _, q := s.tenantStats(b); return q == 1 })
	relB() // frees a global slot and b's quota: b2 runs although a2 is older
	if g := <-got; g != "b2" {
		t.Fatalf("%s ran first", g)
	}
	relA()
	if g := <-got; g != "a2" {
		t.Fatalf("%s ran", g)
	}
	// The goroutines release right after reporting.
	waitFor(t, func() bool { r, q := s.stats(); return r == 0 && q == 0 })
}

func TestSchedulerWaiterLeaves(t *testing.T) {
	s := newSched(1, 10)
	a := &tenantSlots{max: 1, maxQueue: 5}
	rel, _ := s.acquire(context.Background(), a, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := s.acquire(ctx, a, 1); errc <- err }()
	waitFor(t, func() bool { _, q := s.stats(); return q == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, errGone) {
		t.Fatalf("want errGone, got %v", err)
	}
	rel()
	if r, q := s.stats(); r != 0 || q != 0 {
		t.Fatalf("running %d queued %d: a departed waiter leaked a slot", r, q)
	}
}

func TestClientCancelKillsTheRun(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan reply, 1)
	go func() { done <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "c"]}`) }()
	waitStarted(t, ts.fake, "c")
	cancel()
	if r := <-done; r.code != -1 {
		t.Fatalf("the canceled client got an answer: %d", r.code)
	}
	waitFor(t, func() bool { r, _ := ts.srv.sched.stats(); return r == 0 })
	_, m := ts.get(t, "/metrics", "")
	if !strings.Contains(m, `jailrun_runs_canceled_total{tenant="me"} 1`+"\n") {
		t.Fatalf("cancellation not counted:\n%s", m)
	}
}

func TestShutdownLetsRunsFinish(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ctx := context.Background()
	running := make(chan reply, 1)
	queued := make(chan reply, 1)
	go func() { running <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "r"]}`) }()
	waitStarted(t, ts.fake, "r")
	go func() { running <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "r2"]}`) }()
	waitStarted(t, ts.fake, "r2")
	go func() { queued <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "q"]}`) }()
	waitFor(t, func() bool { _, q := ts.srv.sched.stats(); return q == 1 })

	shut := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		shut <- ts.srv.Shutdown(sctx)
	}()
	if r := <-queued; r.code != http.StatusServiceUnavailable || r.body.Error.Kind != KindShuttingDown {
		t.Fatalf("queued request during shutdown: %d %s", r.code, r.raw)
	}
	waitFor(t, func() bool { return ts.srv.draining.Load() })
	// Shutdown marks the server draining just before net/http closes its listeners: the socket must stop
	// accepting while the two runs are still in flight (they are blocked until the release below), not at
	// the very instant the flag is set.
	waitFor(t, func() bool {
		c, err := net.Dial("unix", ts.sock)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(ts.fake.release)
	for range 2 {
		if r := <-running; r.code != 200 || r.body.Result.Status != sandbox.StatusOK {
			t.Fatalf("in-flight run during a graceful shutdown: %d %s", r.code, r.raw)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-ts.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Lstat(ts.sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestShutdownCancelsAfterGrace(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ctx := context.Background()
	running := make(chan reply, 1)
	go func() { running <- ts.post(t, ctx, "", `{"policy": "strict", "argv": ["block", "forever"]}`) }()
	waitStarted(t, ts.fake, "forever")
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := ts.srv.Shutdown(sctx)
	if !errors.Is(err, ErrRunsCanceled) {
		t.Fatalf("Shutdown: %v, want ErrRunsCanceled", err)
	}
	r := <-running
	if r.code != http.StatusServiceUnavailable || r.body.Error.Kind != KindShuttingDown || r.body.Result == nil || r.body.Result.Limit.Name != "context" {
		t.Fatalf("canceled run: %d %s", r.code, r.raw)
	}
}

func TestHealthAndInteract(t *testing.T) {
	ts := startServer(t, myTenants(""))
	if code, body := ts.get(t, "/healthz", ""); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthz: %d %s", code, body)
	}
	r := ts.postPath(t, "/v1/interact", `{}`)
	if r.code != http.StatusNotImplemented || r.body.Error.Kind != KindNotImplemented {
		t.Fatalf("interact without a sandbox runner: %d %s", r.code, r.raw)
	}
	code, body := ts.get(t, "/v1/policies", testToken)
	if code != 200 || !strings.Contains(body, `"ref":"interpreter"`) || !strings.Contains(body, `"tenant":"tok"`) {
		t.Fatalf("policies: %d %s", code, body)
	}
	if code, _ := ts.get(t, "/v1/run", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/run: %d", code)
	}
}

func (ts *testServer) postPath(t *testing.T, path, body string) reply {
	req, _ := http.NewRequest("POST", "http://jailrun"+path, strings.NewReader(body))
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

// The exposition must parse: every sample belongs to a declared metric, names and labels are well
// formed, histogram buckets are cumulative and end in +Inf equal to _count.
func TestMetricsExposition(t *testing.T) {
	ts := startServer(t, myTenants(""))
	for _, b := range []string{`{"policy": "strict", "argv": ["echo"]}`, `{"policy": "strict", "argv": ["tle"]}`, `{"policy": "strict", "argv": ["notfound"]}`} {
		ts.post(t, context.Background(), "", b)
	}
	code, m := ts.get(t, "/metrics", "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$`)
	typed := map[string]string{}
	var lastBucket float64
	sc := bufio.NewScanner(strings.NewReader(m))
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			p := strings.Fields(f)
			if _, dup := typed[p[0]]; dup {
				t.Errorf("TYPE %s twice", p[0])
			}
			typed[p[0]] = p[1]
			lastBucket = 0
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		mm := sample.FindStringSubmatch(line)
		if mm == nil {
			t.Errorf("malformed sample %q", line)
			continue
		}
		name := mm[1]
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if typed[name] == "" && typed[base] != "histogram" {
			t.Errorf("sample %q has no TYPE", line)
		}
		v, err := strconv.ParseFloat(mm[len(mm)-1], 64)
		if err != nil {
			t.Errorf("value of %q: %v", line, err)
		}
		if strings.HasSuffix(name, "_bucket") {
			if v < lastBucket {
				t.Errorf("bucket %q is below the previous one", line)
			}
			lastBucket = v
		}
	}
	for _, want := range []string{
		`jailrun_runs_total{tenant="me",status="ok"} 1`,
		`jailrun_runs_total{tenant="me",status="wall_time_limit"} 1`,
		`jailrun_limit_hits_total{limit="limits.wall_time"} 1`,
		`jailrun_run_errors_total{tenant="me",kind="not_found"} 1`,
		`jailrun_run_wall_seconds_count 2`,
		`jailrun_request_seconds_count 3`,
		`jailrun_pool_size 0`,
		`jailrun_tenant_max_concurrent{tenant="me"} 2`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestEscapeLabel(t *testing.T) {
	if got := escapeLabel("a\"b\\c\nd"); got != `a\"b\\c\nd` {
		t.Fatal(got)
	}
}

// fakeInteract plays sandbox.Interact: it checks what the server passes and answers like the library.
func fakeInteract(ctx context.Context, sol, itr sandbox.Request, o sandbox.InteractOptions) (*sandbox.InteractResult, error) {
	if sol.Stdin != nil || sol.Stdout != nil || itr.Stdin != nil || itr.Stdout != nil {
		return nil, fmt.Errorf("%w: stdin/stdout set", sandbox.ErrPolicy)
	}
	if sol.Stderr != nil {
		sol.Stderr.Write([]byte("sol-err"))
	}
	if o.Transcript != nil {
		fmt.Fprintf(o.Transcript, `{"t_ms":0.1,"dir":%q,"data":"1\n"}`+"\n", sandbox.DirSolutionToInteractor)
	}
	ok := func(r sandbox.Request) *sandbox.Result {
		return &sandbox.Result{Status: sandbox.StatusOK, Policy: sandbox.PolicyInfo{Name: r.Policy.Name, SHA256: r.Policy.SHA256}}
	}
	return &sandbox.InteractResult{Solution: ok(sol), Interactor: ok(itr), FirstExit: "interactor"}, nil
}

func TestInteract(t *testing.T) {
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`{"max_concurrent": 4, "tenants": [
		{"name": "me", "uids": [%d], "policies": ["strict", "interpreter"], "max_concurrent": 2},
		{"name": "one", "token": %q, "policies": ["strict"], "max_concurrent": 1}]}`, os.Geteuid(), testToken)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Runner: newFake(), Config: cfg, Interact: fakeInteract})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := ListenUnix(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	post := func(token, body string) (int, InteractResponse, string) {
		req, _ := http.NewRequest("POST", "http://jailrun/v1/interact", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var ir InteractResponse
		if err := json.Unmarshal(b, &ir); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return resp.StatusCode, ir, string(b)
	}
	const good = `{"solution": {"policy": "interpreter", "argv": ["python3", "-c", "print(1)"]},
		"interactor": {"policy": "strict", "argv": ["/bin/cat"], "overrides": {"wall_time": "1s"}}, "transcript": true}`
	code, ir, raw := post("", good)
	if code != 200 || ir.Result == nil || ir.Result.Solution.Status != sandbox.StatusOK || ir.SolutionStderr != "sol-err" ||
		!strings.Contains(ir.Transcript, sandbox.DirSolutionToInteractor) {
		t.Fatalf("interact: %d %s", code, raw)
	}
	for _, tc := range []struct {
		name, token, body string
		code              int
		kind              string
	}{
		{"a tenant with one slot cannot run two sandboxes", testToken, `{"solution": {"policy": "strict", "argv": ["/bin/true"]}, "interactor": {"policy": "strict", "argv": ["/bin/true"]}}`, 403, KindForbidden},
		{"interactor policy outside the allowlist", testToken, `{"solution": {"policy": "strict", "argv": ["/bin/true"]}, "interactor": {"policy": "interpreter", "argv": ["/bin/true"]}}`, 403, KindForbidden},
		{"loosening the interactor", "", `{"solution": {"policy": "strict", "argv": ["/bin/true"]}, "interactor": {"policy": "strict", "argv": ["/bin/true"], "overrides": {"pids": 100000}}}`, 422, KindPolicy},
		{"stdout capture makes no sense", "", `{"solution": {"policy": "strict", "argv": ["/bin/true"]}, "interactor": {"policy": "strict", "argv": ["/bin/true"]}, "capture": {"stdout_max": 10}}`, 400, KindBadRequest},
		{"no interactor argv", "", `{"solution": {"policy": "strict", "argv": ["/bin/true"]}, "interactor": {"policy": "strict"}}`, 400, KindBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ir, raw := post(tc.token, tc.body)
			if code != tc.code || ir.Error == nil || ir.Error.Kind != tc.kind {
				t.Fatalf("%d %s, want %d %s", code, raw, tc.code, tc.kind)
			}
			if tc.kind == KindPolicy && !strings.Contains(ir.Error.Message, "interactor.") {
				t.Fatalf("the error does not say which side: %s", raw)
			}
		})
	}
}

// An interactive run takes two slots at once; a single run behind it waits rather than overtaking it
// for the server's capacity, so it is not starved.
func TestSchedulerWeightedFIFO(t *testing.T) {
	s := newSched(2, 10)
	a := &tenantSlots{max: 2, maxQueue: 5}
	b := &tenantSlots{max: 2, maxQueue: 5}
	ctx := context.Background()
	rel1, _ := s.acquire(ctx, a, 1)
	got := make(chan string, 2)
	go func() { r, _ := s.acquire(ctx, b, 2); got <- "pair"; r() }()
	waitFor(t, func() bool { _, q := s.stats(); return q == 1 })
	go func() { r, _ := s.acquire(ctx, a, 1); got <- "single"; r() }()
	waitFor(t, func() bool { _, q := s.stats(); return q == 2 })
	rel1()
	if g := <-got; g != "pair" {
		t.Fatalf("%s ran first", g)
	}
	if g := <-got; g != "single" {
		t.Fatal(g)
	}
	if _, err := s.acquire(ctx, &tenantSlots{max: 1, maxQueue: 5}, 2); !errors.Is(err, errTooBig) {
		t.Fatalf("two slots for a tenant with one: %v", err)
	}
}

// Every answer with a result carries it as an isolate meta file too; one without (the run never started)
// carries none.
func TestResponseMeta(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ctx := context.Background()
	for argv, want := range map[string]string{
		"echo":     "exitcode:0\n",
		"tle":      "killed:1\nstatus:TO\nmessage:Time limit exceeded (wall clock)\n",
		"notfound": "",
	} {
		r := ts.post(t, ctx, "", `{"policy": "strict", "argv": ["`+argv+`"]}`)
		if r.body.Meta != r.body.Result.MetaText() || !strings.HasSuffix(r.body.Meta, want) || (want == "") != (r.body.Meta == "") {
			t.Errorf("%s: meta %q, want it to end in %q\n%s", argv, r.body.Meta, want, r.raw)
		}
	}
}
