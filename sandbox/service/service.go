// Package service is jailrun's HTTP+JSON API: the `jailrun serve` daemon that grading and CI workers call
// on a unix socket (or loopback TCP) to run commands in sandboxes.
//
// One Server holds one sandbox runner shared by every request. Callers are tenants, identified by their
// unix-socket peer credentials or a bearer token; each has an allowlist of policies, a concurrency quota
// and a queue. Requests may only tighten a policy. Endpoints:
//
//	POST /v1/run       run a command: RunRequest in, RunResponse out
//	POST /v1/interact  interactive runs (501 until the library provides them)
//	GET  /v1/policies  the caller's allowed policies
//	GET  /healthz      200 while serving, 503 while draining
//	GET  /metrics      Prometheus text format (any tenant)
//
// The service is stateless: nothing survives a request, so instances scale horizontally behind whatever
// balances load across them. See docs/service.md.
package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// Runner runs one sandbox; *sandbox.Runner is the real one. Tests substitute fakes.
type Runner interface {
	Run(ctx context.Context, req sandbox.Request) (*sandbox.Result, error)
}

// Options configure a Server.
type Options struct {
	// Runner is shared by all requests (required).
	Runner Runner
	// Config is the tenants and limits (required; see LoadConfig, DefaultConfig).
	Config *Config
	// Resolve loads a policy named in a tenant's allowlist; default policy.Resolve.
	Resolve func(nameOrPath string) (*policy.Settings, error)
	// Logf receives operational messages (default: discard).
	Logf func(format string, args ...any)
	// AccessLog logs one line per run request.
	AccessLog bool
	// KillWait bounds how long Shutdown waits for runs to end once it has canceled them (default 10 s).
	KillWait time.Duration
}

// ErrRunsCanceled is returned by Shutdown when the grace period ended with runs still going, which it
// then canceled (their callers got 503 shutting_down with the partial result).
var ErrRunsCanceled = errors.New("runs canceled at the end of the shutdown grace period")

// Server is the HTTP service. Create it with New, serve listeners with Serve, stop it with Shutdown.
type Server struct {
	runner    Runner
	cfg       *Config
	logf      func(string, ...any)
	accessLog bool
	killWait  time.Duration

	tenants []*tenant
	byUID   map[uint32]*tenant
	byGID   map[uint32]*tenant

	sched   *sched
	metrics *metrics
	http    *http.Server
	lim     *connLimiter

	runsCtx    context.Context // canceled when the grace period ends: kills every run
	cancelRuns context.CancelCauseFunc
	draining   atomic.Bool
	runs       sync.WaitGroup
	inflight   atomic.Int64
}

type tenant struct {
	name     string
	tokenSum []byte
	policies map[string]*policy.Settings // by allowlist entry, already capped by the tenant's limits
	order    []string
	slots    *tenantSlots
}

// New loads and compiles every allowed policy (a broken one fails here, not at the first request) and
// builds the server.
func New(o Options) (*Server, error) {
	if o.Runner == nil || o.Config == nil {
		return nil, errors.New("service: Runner and Config are required")
	}
	if o.Resolve == nil {
		o.Resolve = policy.Resolve
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.KillWait <= 0 {
		o.KillWait = 10 * time.Second
	}
	cfg := o.Config
	s := &Server{
		runner: o.Runner, cfg: cfg, logf: o.Logf, accessLog: o.AccessLog, killWait: o.KillWait,
		byUID: map[uint32]*tenant{}, byGID: map[uint32]*tenant{},
		sched:   newSched(cfg.MaxConcurrent, *cfg.MaxQueue),
		metrics: newMetrics(),
		lim:     &connLimiter{sem: make(chan struct{}, cfg.MaxConnections)},
	}
	s.runsCtx, s.cancelRuns = context.WithCancelCause(context.Background())
	compiled := map[string]*policy.Settings{}
	for _, tc := range cfg.Tenants {
		t := &tenant{name: tc.Name, policies: map[string]*policy.Settings{},
			slots: &tenantSlots{max: tc.MaxConcurrent, maxQueue: *tc.MaxQueue}}
		if tc.TokenSHA256 != "" {
			t.tokenSum, _ = hex.DecodeString(tc.TokenSHA256)
		}
		for _, ref := range tc.Policies {
			base, ok := compiled[ref]
			if !ok {
				var err error
				if base, err = o.Resolve(ref); err != nil {
					return nil, fmt.Errorf("tenant %q: policy %q: %w", tc.Name, ref, err)
				}
				compiled[ref] = base
			}
			capped, err := sandbox.Cap(base, tc.Limits.Overrides())
			if err != nil {
				return nil, fmt.Errorf("%w: tenant %q: limits: %v", ErrConfig, tc.Name, err)
			}
			t.policies[ref] = capped
			t.order = append(t.order, ref)
		}
		for _, u := range tc.UIDs {
			s.byUID[u] = t
		}
		for _, g := range tc.GIDs {
			s.byGID[g] = t
		}
		s.tenants = append(s.tenants, t)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /"+APIVersion+"/run", s.handleRun)
	mux.HandleFunc("POST /"+APIVersion+"/interact", s.handleInteract)
	mux.HandleFunc("GET /"+APIVersion+"/policies", s.handlePolicies)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.http = &http.Server{
		Handler: mux,
		// No ReadTimeout or WriteTimeout: a run may legitimately last minutes, and net/http turns an
		// expired read deadline into a canceled request context. The body gets its own deadline in
		// readBody; idle and header timeouts bound everything else.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(*peerConn); ok && pc.peer != nil {
				return WithPeer(ctx, pc.peer)
			}
			return ctx
		},
		ErrorLog: log.New(logWriter(o.Logf), "", 0),
	}
	return s, nil
}

// Handler is the server's HTTP handler, for mounting in another server. Peer credentials are then known
// only if that server sets them with WithPeer.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Serve accepts connections on l until Shutdown. Unix-socket callers are identified by the credentials the
// kernel recorded when they connected. It returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	ll := &limitedListener{Listener: l, lim: s.lim, done: make(chan struct{})}
	err := s.http.Serve(ll)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and refuses queued and new requests (503 shutting_down), then
// waits for running requests until ctx ends. Runs still going then are canceled — killed, with every
// sandbox cleaned up by the runner — and Shutdown waits up to Options.KillWait for their handlers to
// answer. It returns nil when everything finished in time, an error matching ErrRunsCanceled when runs
// had to be canceled, and another error when runs did not end even then.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.sched.drain()
	err := s.http.Shutdown(ctx)
	if err == nil {
		s.runs.Wait() // handlers have returned, so their runs have too
		return nil
	}
	n := s.inflight.Load()
	s.cancelRuns(errShuttingDown)
	hard, cancel := context.WithTimeout(context.Background(), s.killWait)
	defer cancel()
	if err := s.http.Shutdown(hard); err != nil {
		s.http.Close()
	}
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	select {
	case <-done:
		return fmt.Errorf("%w (%d in flight)", ErrRunsCanceled, n)
	case <-hard.Done():
		return fmt.Errorf("%d runs did not end within %v of being canceled", s.inflight.Load(), s.killWait)
	}
}

// httpError is a refusal with its HTTP status.
type httpError struct {
	code       int
	kind       string
	msg        string
	retryAfter int
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, kind, format string, a ...any) *httpError {
	return &httpError{code: code, kind: kind, msg: fmt.Sprintf(format, a...)}
}

// identify finds the tenant of a request. A bearer token, when present, decides alone; otherwise the
// unix peer's uid, then gid. Anything else is refused: the service fails closed.
func (s *Server) identify(r *http.Request) (*tenant, *httpError) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return nil, errorf(http.StatusUnauthorized, KindUnauthenticated, `the Authorization header must be "Bearer TOKEN"`)
		}
		sum := sha256.Sum256([]byte(tok))
		var found *tenant
		// Compare against every tenant in constant time, so timing does not reveal how much matched.
		for _, t := range s.tenants {
			if t.tokenSum != nil && subtle.ConstantTimeCompare(sum[:], t.tokenSum) == 1 {
				found = t
			}
		}
		if found == nil {
			return nil, errorf(http.StatusUnauthorized, KindUnauthenticated, "unknown token")
		}
		return found, nil
	}
	if p := PeerFrom(r.Context()); p != nil {
		if t := s.byUID[p.UID]; t != nil {
			return t, nil
		}
		if t := s.byGID[p.GID]; t != nil {
			return t, nil
		}
		return nil, errorf(http.StatusForbidden, KindForbidden, "uid %d (gid %d) is not a tenant of this server", p.UID, p.GID)
	}
	return nil, errorf(http.StatusUnauthorized, KindUnauthenticated, "a bearer token is required on this listener")
}

func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t, herr := s.identify(r)
	if herr != nil {
		s.metrics.inc(s.metrics.rejected, "", herr.kind)
		s.reply(w, herr, &RunResponse{})
		return
	}
	resp, herr := s.run(w, r, t, start)
	if herr != nil && herr.code != 0 {
		s.reply(w, herr, resp)
	} else {
		s.reply(w, nil, resp)
	}
	s.metrics.observe(s.metrics.request, time.Since(start).Seconds())
}

// run handles one admitted caller's request; the response is written by handleRun.
func (s *Server) run(w http.ResponseWriter, r *http.Request, t *tenant, start time.Time) (*RunResponse, *httpError) {
	resp := &RunResponse{}
	req, herr := s.readRequest(w, r)
	if herr != nil {
		s.metrics.inc(s.metrics.rejected, t.name, herr.kind)
		return resp, herr
	}
	base, ok := t.policies[req.Policy]
	if !ok {
		s.metrics.inc(s.metrics.rejected, t.name, KindForbidden)
		return resp, errorf(http.StatusForbidden, KindForbidden, "policy %q is not allowed for tenant %s (allowed: %s)", req.Policy, t.name, strings.Join(t.order, ", "))
	}
	pol, err := sandbox.Tighten(base, req.Overrides.Overrides())
	if err != nil {
		s.metrics.inc(s.metrics.rejected, t.name, KindPolicy)
		return resp, errorf(http.StatusUnprocessableEntity, KindPolicy, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	stdin, herr := req.stdin()
	if herr != nil {
		s.metrics.inc(s.metrics.rejected, t.name, herr.kind)
		return resp, herr
	}
	outMax, errMax, enc, herr := req.Capture.limits(s.cfg.MaxCaptureBytes)
	if herr != nil {
		s.metrics.inc(s.metrics.rejected, t.name, herr.kind)
		return resp, herr
	}
	resp.Encoding = enc

	release, err := s.sched.acquire(r.Context(), t.slots)
	resp.QueueMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		herr := s.admissionError(t, err)
		s.metrics.inc(s.metrics.rejected, t.name, herr.kind)
		return resp, herr
	}
	defer release()
	s.metrics.observe(s.metrics.queue, time.Since(start).Seconds())

	// The run ends when the client goes away or when the shutdown grace period is over.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(s.runsCtx, func() { cancel(context.Cause(s.runsCtx)) })
	defer stop()

	stdout, stderr := newCapture(outMax), newCapture(errMax)
	sreq := sandbox.Request{Policy: pol, Argv: req.Argv, Env: req.Env}
	if stdin != nil {
		sreq.Stdin = bytes.NewReader(stdin)
	}
	if stdout != nil {
		sreq.Stdout = stdout
	}
	if stderr != nil {
		sreq.Stderr = stderr
	}
	s.runs.Add(1)
	s.inflight.Add(1)
	res, err := s.runner.Run(ctx, sreq)
	s.inflight.Add(-1)
	s.runs.Done()

	resp.Result = res
	resp.Stdout, resp.StdoutTruncated = stdout.encode(enc)
	resp.Stderr, resp.StderrTruncated = stderr.encode(enc)
	// A run the context killed has no verdict of its own. The launcher names the context as the limit that
	// ended it; a run that ended on its own just before the cancellation keeps its real result.
	canceled := ctx.Err() != nil && (res == nil || (res.Limit != nil && res.Limit.Name == "context"))
	switch {
	case canceled && s.runsCtx.Err() != nil:
		s.countCanceled(t)
		s.access(r, t, req, http.StatusServiceUnavailable, "canceled by shutdown", start)
		return resp, errorf(http.StatusServiceUnavailable, KindShuttingDown, "the server shut down before the run ended; it was killed")
	case canceled:
		// The client is gone; nobody reads this answer, but the run is accounted for.
		s.countCanceled(t)
		s.access(r, t, req, 499, "canceled by client", start)
		return resp, &httpError{code: 499, kind: "client_gone", msg: "client went away"}
	case err != nil:
		herr := runError(err)
		s.metrics.inc(s.metrics.errs, t.name, herr.kind)
		if herr.code >= 500 {
			s.logf("tenant %s: policy %s: %v", t.name, req.Policy, err)
		}
		s.access(r, t, req, herr.code, herr.kind, start)
		return resp, herr
	}
	s.metrics.mu.Lock()
	s.metrics.runs[[2]string{t.name, string(res.Status)}]++
	if res.Limit != nil {
		s.metrics.limits[res.Limit.Name]++
	}
	s.metrics.wall.observe(res.WallTimeMS / 1000)
	s.metrics.setup.observe(res.SetupTimeMS / 1000)
	s.metrics.mu.Unlock()
	s.access(r, t, req, http.StatusOK, string(res.Status), start)
	return resp, nil
}

func (s *Server) countCanceled(t *tenant) {
	s.metrics.mu.Lock()
	s.metrics.canceled[t.name]++
	s.metrics.mu.Unlock()
}

func (s *Server) access(r *http.Request, t *tenant, req *RunRequest, code int, what string, start time.Time) {
	if !s.accessLog {
		return
	}
	argv0 := ""
	if len(req.Argv) > 0 {
		argv0 = req.Argv[0]
	}
	s.logf("run tenant=%s policy=%q argv0=%q code=%d %s total=%.1fms", t.name, req.Policy, argv0, code, what, float64(time.Since(start).Microseconds())/1000)
}

func (s *Server) admissionError(t *tenant, err error) *httpError {
	switch {
	case errors.Is(err, errQuota):
		e := errorf(http.StatusTooManyRequests, KindQuota, "tenant %s has %d runs going and %d queued, its quota", t.name, t.slots.max, t.slots.maxQueue)
		e.retryAfter = s.sched.retryAfter(t.slots)
		return e
	case errors.Is(err, errQueueFull):
		e := errorf(http.StatusServiceUnavailable, KindQueueFull, "the server's queue is full (%d waiting)", s.cfg.maxQueue())
		e.retryAfter = s.sched.retryAfter(t.slots)
		return e
	case errors.Is(err, errShuttingDown):
		return errorf(http.StatusServiceUnavailable, KindShuttingDown, "the server is shutting down; retry on another instance")
	}
	// errGone: the client left while queued. 499 (nginx's "client closed request") only reaches logs.
	return &httpError{code: 499, kind: "client_gone", msg: err.Error()}
}

// runError maps the library's typed errors to the API's kinds.
func runError(err error) *httpError {
	kind, code := KindInternal, http.StatusInternalServerError
	switch {
	case errors.Is(err, sandbox.ErrNotFound):
		kind, code = KindNotFound, http.StatusUnprocessableEntity
	case errors.Is(err, sandbox.ErrCannotExec):
		kind, code = KindCannotExec, http.StatusUnprocessableEntity
	case errors.Is(err, sandbox.ErrPolicy):
		kind, code = KindPolicy, http.StatusUnprocessableEntity
	case errors.Is(err, sandbox.ErrUnsupported):
		kind = KindUnsupported
	case errors.Is(err, sandbox.ErrSetup):
		kind = KindSetup
	}
	return &httpError{code: code, kind: kind, msg: err.Error()}
}

// readRequest reads and strictly decodes the body. Reading it to the end also lets net/http notice a
// client that hangs up during the run, which cancels the run.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (*RunRequest, *httpError) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(30 * time.Second))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, KindTooLarge, "the request body is larger than %d bytes", s.cfg.MaxRequestBytes)
		}
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "reading the request body: %v", err)
	}
	var req RunRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: %v", err)
	}
	if dec.More() {
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: trailing data after the JSON object")
	}
	if req.Policy == "" {
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: policy is required")
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: argv is required")
	}
	return &req, nil
}

func (req *RunRequest) stdin() ([]byte, *httpError) {
	switch {
	case req.Stdin != nil && req.StdinBase64 != nil:
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: set stdin or stdin_base64, not both")
	case req.Stdin != nil:
		return []byte(*req.Stdin), nil
	case req.StdinBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.StdinBase64)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: stdin_base64: %v", err)
		}
		return b, nil
	}
	return nil, nil
}

func (c Capture) limits(max int64) (out, errs int64, enc string, herr *httpError) {
	out, errs = DefaultCapture, DefaultCapture
	if c.StdoutMax != nil {
		out = *c.StdoutMax
	}
	if c.StderrMax != nil {
		errs = *c.StderrMax
	}
	if out < 0 || errs < 0 || out > max || errs > max {
		return 0, 0, "", errorf(http.StatusBadRequest, KindBadRequest, "request body: capture caps must be between 0 and %d bytes", max)
	}
	switch c.Encoding {
	case "", "text":
		enc = "text"
	case "base64":
		enc = "base64"
	default:
		return 0, 0, "", errorf(http.StatusBadRequest, KindBadRequest, "request body: capture.encoding %q: want \"text\" or \"base64\"", c.Encoding)
	}
	return out, errs, enc, nil
}

// capture keeps the first max bytes written to it and counts the rest. It never fails a write: the
// policy's output limits, not the capture cap, decide whether the child may keep writing.
type capture struct {
	max       int64
	buf       bytes.Buffer
	truncated bool
}

func newCapture(max int64) *capture {
	if max <= 0 {
		return nil
	}
	return &capture{max: max}
}

func (c *capture) Write(p []byte) (int, error) {
	room := c.max - int64(c.buf.Len())
	if int64(len(p)) > room {
		c.truncated = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

func (c *capture) encode(enc string) (string, bool) {
	if c == nil {
		return "", false
	}
	if enc == "base64" {
		return base64.StdEncoding.EncodeToString(c.buf.Bytes()), c.truncated
	}
	return c.buf.String(), c.truncated
}

// reply writes resp with herr's status (200 when nil). Callers that left (499) get nothing.
func (s *Server) reply(w http.ResponseWriter, herr *httpError, resp *RunResponse) {
	code := http.StatusOK
	if herr != nil {
		if herr.code == 499 {
			return
		}
		code = herr.code
		resp.Error = &APIError{Kind: herr.kind, Message: herr.msg}
		if herr.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(herr.retryAfter))
		}
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jailrun"`)
		}
	}
	if resp.Encoding == "" {
		resp.Encoding = "text"
	}
	writeJSON(w, code, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"kind":"internal","message":"encoding the response failed"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func (s *Server) handleInteract(w http.ResponseWriter, r *http.Request) {
	if _, herr := s.identify(r); herr != nil {
		s.reply(w, herr, &RunResponse{})
		return
	}
	// The library's interactive runs (two sandboxes joined by audited pipes) are not wired into this
	// build; refuse clearly rather than guess at a protocol.
	s.reply(w, errorf(http.StatusNotImplemented, KindNotImplemented, "interactive runs are not available in this build of jailrun serve"), &RunResponse{})
}

// PolicyInfo describes one allowed policy in GET /v1/policies.
type PolicyInfo struct {
	Ref    string `json:"ref"`
	Name   string `json:"name"`
	Source string `json:"source"`
	SHA256 string `json:"sha256"`
}

func (s *Server) handlePolicies(w http.ResponseWriter, r *http.Request) {
	t, herr := s.identify(r)
	if herr != nil {
		s.reply(w, herr, &RunResponse{})
		return
	}
	out := struct {
		Tenant   string       `json:"tenant"`
		Policies []PolicyInfo `json:"policies"`
	}{Tenant: t.name, Policies: []PolicyInfo{}}
	for _, ref := range t.order {
		p := t.policies[ref]
		out.Policies = append(out.Policies, PolicyInfo{Ref: ref, Name: p.Name, Source: p.Source, SHA256: p.SHA256})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if _, herr := s.identify(r); herr != nil {
		s.reply(w, herr, &RunResponse{})
		return
	}
	running, queued := s.sched.stats()
	g := gauges{running: running, queued: queued, maxRunning: s.cfg.MaxConcurrent, maxQueued: s.cfg.maxQueue(), draining: s.draining.Load()}
	// The launcher's warm pool reports its size when it has one.
	if p, ok := s.runner.(interface{ PoolSize() int }); ok {
		g.pool = p.PoolSize()
	}
	for _, t := range s.tenants {
		tr, tq := s.sched.tenantStats(t.slots)
		g.tenants = append(g.tenants, tenantGauge{name: t.name, running: tr, queued: tq, max: t.slots.max, maxQueue: t.slots.maxQueue})
	}
	sort.Slice(g.tenants, func(i, j int) bool { return g.tenants[i].name < g.tenants[j].name })
	var b bytes.Buffer
	s.metrics.write(&b, g)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

func (c *Config) maxQueue() int {
	if c.MaxQueue == nil {
		return DefaultMaxQueue
	}
	return *c.MaxQueue
}

// logWriter adapts Logf for net/http's error log.
type logWriter func(string, ...any)

func (f logWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
