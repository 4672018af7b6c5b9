// Package service is jailrun's HTTP+JSON API: the `jailrun serve` daemon that grading and CI workers call
// on a unix socket (or loopback TCP) to run commands in sandboxes.
//
// One Server holds one sandbox runner shared by every request. Callers are tenants, identified by their
// unix-socket peer credentials or a bearer token; each has an allowlist of policies, a concurrency quota
// and a queue. Requests may only tighten a policy. Endpoints:
//
//	POST /v1/run       run a command: RunRequest in, RunResponse out
//	POST /v1/interact  an interactive run: InteractRequest in, InteractResponse out
//	POST /v1/exec      a run with its stdio streamed over the upgraded connection (exec_wire.go)
//	GET  /v1/policies  the caller's allowed policies
//	POST /v1/files, GET and DELETE /v1/files/{id}  the tenant's file store (files.go)
//	GET  /healthz      200 while serving, 503 while draining
//	GET  /metrics      Prometheus text format (any tenant)
//
// The service is stateless apart from the file store and the kept answers of Idempotency-Key requests
// (idempotency.go), both per instance: instances scale horizontally behind whatever balances load across
// them. See docs/service.md.
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
	"unicode/utf8"

	"github.com/jailrun/jailrun/audit"
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
	// Interact runs POST /v1/interact. Default: sandbox.Interact on Runner when Runner is a
	// *sandbox.Runner; without one the endpoint answers 501.
	Interact func(ctx context.Context, solution, interactor sandbox.Request, o sandbox.InteractOptions) (*sandbox.InteractResult, error)
	// Audit, when set, receives every run's records (run.start ... run.end, as jailrun run --audit writes
	// them) from every endpoint. The caller owns it and closes it after Shutdown.
	Audit *audit.Logger
}

// ErrRunsCanceled is returned by Shutdown when the grace period ended with runs still going, which it
// then canceled (their callers got 503 shutting_down with the partial result).
var ErrRunsCanceled = errors.New("runs canceled at the end of the shutdown grace period")

// Server is the HTTP service. Create it with New, serve listeners with Serve, stop it with Shutdown.
type Server struct {
	runner    Runner
	interact  func(context.Context, sandbox.Request, sandbox.Request, sandbox.InteractOptions) (*sandbox.InteractResult, error)
	audit     *audit.Logger
	cfg       *Config
	logf      func(string, ...any)
	accessLog bool
	killWait  time.Duration

	tenants []*tenant
	byUID   map[uint32]*tenant
	byGID   map[uint32]*tenant

	sched   *sched
	metrics *metrics
	files   *fileStore
	idem    *idemStore
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
	if sr, ok := o.Runner.(*sandbox.Runner); ok && o.Interact == nil {
		o.Interact = func(ctx context.Context, a, b sandbox.Request, io sandbox.InteractOptions) (*sandbox.InteractResult, error) {
			return sandbox.Interact(ctx, sr, a, b, io)
		}
	}
	cfg := o.Config
	s := &Server{
		runner: o.Runner, interact: o.Interact, audit: o.Audit, cfg: cfg, logf: o.Logf, accessLog: o.AccessLog, killWait: o.KillWait,
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
				return nil, fmt.Errorf("%w: tenant %q: limits: %w", ErrConfig, tc.Name, err)
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
	s.files = newFileStore(cfg.Files, s.tenants)
	s.idem = newIdemStore()
	mux := http.NewServeMux()
	s.fileRoutes(mux)
	mux.HandleFunc("POST /"+APIVersion+"/run", s.handleRun)
	mux.HandleFunc("POST /"+APIVersion+"/interact", s.handleInteract)
	mux.HandleFunc("POST /"+APIVersion+"/exec", s.handleExec)
	mux.HandleFunc("GET /"+APIVersion+"/policies", s.handlePolicies)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	// Everything else: a JSON error as every other answer has (the mux's own 404 and 405 are plain text).
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.handleUnknown(mux, w, r) })
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
		// net/http does not wait for hijacked connections (POST /v1/exec): their runs are waited for here.
		if err = s.waitRuns(ctx); err == nil {
			return nil
		}
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
	if s.idempotent(w, r, s.handleRun) {
		return
	}
	start := time.Now()
	resp := &RunResponse{Encoding: "text"}
	herr := s.serveRun(w, r, start, resp)
	s.reply(w, herr, resp, &resp.Error)
	s.metrics.observe(s.metrics.request, time.Since(start).Seconds())
}

// serveRun handles POST /v1/run, filling resp; the returned error decides the status.
func (s *Server) serveRun(w http.ResponseWriter, r *http.Request, start time.Time, resp *RunResponse) *httpError {
	t, herr := s.identify(r)
	if herr != nil {
		return s.reject(nil, herr)
	}
	var req RunRequest
	if herr := s.decode(w, r, &req); herr != nil {
		return s.reject(t, herr)
	}
	pol, herr := t.policy(req.Policy, req.Argv, req.Params, req.Overrides, "")
	if herr != nil {
		return s.reject(t, herr)
	}
	stdin, herr := req.stdin()
	if herr != nil {
		return s.reject(t, herr)
	}
	outMax, errMax, enc, herr := req.Capture.limits(s.cfg.MaxCaptureBytes)
	if herr != nil {
		return s.reject(t, herr)
	}
	resp.Encoding = enc
	files, herr := s.runFiles(t, pol, req.FilesIn, req.FilesOut)
	if herr != nil {
		return s.reject(t, herr)
	}

	ctx, leave, herr := s.admit(r, t, 1, start, &resp.QueueMS)
	if herr != nil {
		return herr
	}
	defer leave()

	stdout, stderr := newCapture(outMax), newCapture(errMax)
	sreq := sandbox.Request{Policy: pol, Argv: req.Argv, Params: req.Params, Env: req.Env, Audit: s.audit}
	if stdin != nil {
		sreq.Stdin = bytes.NewReader(stdin)
	}
	if stdout != nil {
		sreq.Stdout = stdout
	}
	if stderr != nil {
		sreq.Stderr = stderr
	}
	files.apply(&sreq)
	res, err := s.runner.Run(ctx, sreq)
	resp.Result, resp.Meta = res, res.MetaText()
	resp.FilesOut = s.collectFiles(t, files, res, err != nil || ctx.Err() != nil)
	resp.Stdout, resp.StdoutTruncated = stdout.encode(enc)
	resp.Stderr, resp.StderrTruncated = stderr.encode(enc)
	herr = s.outcome(ctx, t, err, res)
	s.access(t, "run", req.Policy, herr, start, res)
	return herr
}

func (s *Server) handleInteract(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resp := &InteractResponse{Encoding: "text"}
	herr := s.serveInteract(w, r, start, resp)
	s.reply(w, herr, resp, &resp.Error)
	s.metrics.observe(s.metrics.request, time.Since(start).Seconds())
}

// serveInteract handles POST /v1/interact: a solution and an interactor in two sandboxes, each one's stdout
// connected to the other's stdin (sandbox.Interact). It takes two of the tenant's run slots at once.
func (s *Server) serveInteract(w http.ResponseWriter, r *http.Request, start time.Time, resp *InteractResponse) *httpError {
	t, herr := s.identify(r)
	if herr != nil {
		return s.reject(nil, herr)
	}
	if s.interact == nil {
		return errorf(http.StatusNotImplemented, KindNotImplemented, "interactive runs need the sandbox runner; this server has none")
	}
	var req InteractRequest
	if herr := s.decode(w, r, &req); herr != nil {
		return s.reject(t, herr)
	}
	solPol, herr := t.policy(req.Solution.Policy, req.Solution.Argv, req.Solution.Params, req.Solution.Overrides, "solution.")
	if herr != nil {
		return s.reject(t, herr)
	}
	intPol, herr := t.policy(req.Interactor.Policy, req.Interactor.Argv, req.Interactor.Params, req.Interactor.Overrides, "interactor.")
	if herr != nil {
		return s.reject(t, herr)
	}
	if req.Capture.StdoutMax != nil {
		return s.reject(t, errorf(http.StatusBadRequest, KindBadRequest, "request body: capture.stdout_max: each side's stdout goes to the other side; use transcript"))
	}
	_, errMax, enc, herr := req.Capture.limits(s.cfg.MaxCaptureBytes)
	if herr != nil {
		return s.reject(t, herr)
	}
	resp.Encoding = enc
	trLimit := int64(req.TranscriptMax)
	if trLimit == 0 {
		trLimit = DefaultCapture
	}
	if trLimit > s.cfg.MaxCaptureBytes {
		return s.reject(t, errorf(http.StatusBadRequest, KindBadRequest, "request body: transcript_max must be at most %d bytes", s.cfg.MaxCaptureBytes))
	}

	ctx, leave, herr := s.admit(r, t, 2, start, &resp.QueueMS)
	if herr != nil {
		return herr
	}
	defer leave()

	solErr, intErr := newCapture(errMax), newCapture(errMax)
	sol := sandbox.Request{Policy: solPol, Argv: req.Solution.Argv, Params: req.Solution.Params, Env: req.Solution.Env, Audit: s.audit}
	itr := sandbox.Request{Policy: intPol, Argv: req.Interactor.Argv, Params: req.Interactor.Params, Env: req.Interactor.Env, Audit: s.audit}
	if solErr != nil {
		sol.Stderr, itr.Stderr = solErr, intErr
	}
	opts := sandbox.InteractOptions{PeerGrace: time.Duration(req.PeerGrace), TranscriptLimit: trLimit, Audit: s.audit}
	// The transcript's JSON framing and escaping add to the data it records; the buffer allows for that
	// and is still bounded.
	var tr *capture
	if req.Transcript {
		tr = newCapture(6*trLimit + 64<<10)
		opts.Transcript = tr
	}
	res, err := s.interact(ctx, sol, itr, opts)
	resp.Result = res
	if res != nil {
		resp.SolutionMeta, resp.InteractorMeta = res.Solution.MetaText(), res.Interactor.MetaText()
	}
	resp.SolutionStderr, resp.SolutionStderrTruncated = solErr.encode(enc)
	resp.InteractorStderr, resp.InteractorStderrTruncated = intErr.encode(enc)
	if tr != nil {
		resp.Transcript = tr.buf.String()
	}
	var results []*sandbox.Result
	if res != nil {
		results = []*sandbox.Result{res.Solution, res.Interactor}
	}
	herr = s.outcome(ctx, t, err, results...)
	s.access(t, "interact", req.Solution.Policy+"+"+req.Interactor.Policy, herr, start, results...)
	return herr
}

// policy returns the tenant's policy named name, tightened by the request's overrides, after checking
// that the request names a command the way the policy wants it: argv, or, for a policy with a command
// template, params only (an argv there would bypass the template; the library refuses it too, this
// only says so before a run slot is taken). what prefixes field names in errors.
func (t *tenant) policy(name string, argv []string, params map[string]string, o *Limits, what string) (*policy.Settings, *httpError) {
	if name == "" {
		return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: %spolicy is required", what)
	}
	base, ok := t.policies[name]
	if !ok {
		return nil, errorf(http.StatusForbidden, KindForbidden, "%spolicy %q is not allowed for tenant %s (allowed: %s)", what, name, t.name, strings.Join(t.order, ", "))
	}
	if len(base.Command.Template) > 0 {
		if len(argv) > 0 {
			return nil, errorf(http.StatusUnprocessableEntity, KindArgument, "request body: %sargv is refused: policy %q fixes the command with a template; send its parameters as %sparams", what, name, what)
		}
		if _, err := sandbox.ExpandTemplate(base.Command, params); err != nil {
			return nil, errorf(http.StatusUnprocessableEntity, KindArgument, "request body: %sparams: %v", what, err)
		}
	} else {
		if len(params) > 0 {
			return nil, errorf(http.StatusUnprocessableEntity, KindArgument, "request body: %sparams are refused: policy %q has no command template; send the command as %sargv", what, name, what)
		}
		if len(argv) == 0 || argv[0] == "" {
			return nil, errorf(http.StatusBadRequest, KindBadRequest, "request body: %sargv is required", what)
		}
	}
	pol, err := sandbox.Tighten(base, o.Overrides())
	if err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, KindPolicy, "%s%s", what, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return pol, nil
}

// reject counts a request refused before admission and returns its error.
func (s *Server) reject(t *tenant, herr *httpError) *httpError {
	name := ""
	if t != nil {
		name = t.name
	}
	s.metrics.inc(s.metrics.rejected, name, herr.kind)
	return herr
}

// admit waits for n run slots of tenant t, recording the time spent in *queueMS, and gives the context of
// the admitted runs (see runContext). leave gives the slots back and must be called once the runs have
// returned. Admission and the run context go together so that no handler can hold slots outside the
// shutdown accounting.
func (s *Server) admit(r *http.Request, t *tenant, n int, start time.Time, queueMS *float64) (ctx context.Context, leave func(), herr *httpError) {
	release, err := s.sched.acquire(r.Context(), t.slots, n)
	*queueMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return nil, nil, s.reject(t, s.admissionError(t, n, err))
	}
	s.metrics.observe(s.metrics.queue, time.Since(start).Seconds())
	ctx, done := s.runContext(r)
	return ctx, func() { done(); release() }, nil
}

func (s *Server) runContext(r *http.Request) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(s.runsCtx, func() { cancel(context.Cause(s.runsCtx)) })
	s.runs.Add(1)
	s.inflight.Add(1)
	return ctx, func() {
		stop()
		cancel(nil)
		s.inflight.Add(-1)
		s.runs.Done()
	}
}

// outcome turns what the runner returned into the answer's status and accounts for it.
func (s *Server) outcome(ctx context.Context, t *tenant, err error, results ...*sandbox.Result) *httpError {
	// A run the context killed has no verdict of its own. The launcher names the context as the limit that
	// ended it; a run that ended on its own just before the cancellation keeps its real result.
	canceled := false
	if ctx.Err() != nil {
		for _, res := range results {
			if res == nil || (res.Limit != nil && res.Limit.Name == "context") {
				canceled = true
			}
		}
		if len(results) == 0 {
			canceled = true
		}
	}
	switch {
	case canceled && s.runsCtx.Err() != nil:
		s.countCanceled(t)
		return errorf(http.StatusServiceUnavailable, KindShuttingDown, "the server shut down before the run ended; it was killed")
	case canceled:
		// The client is gone; nobody reads this answer, but the run is accounted for.
		s.countCanceled(t)
		return &httpError{code: 499, kind: "client_gone", msg: "client went away"}
	case err != nil:
		herr := runError(err)
		s.metrics.inc(s.metrics.errs, t.name, herr.kind)
		if herr.code >= 500 {
			s.logf("tenant %s: %v", t.name, err)
		}
		return herr
	}
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	for _, res := range results {
		if res == nil {
			continue
		}
		s.metrics.runs[[2]string{t.name, string(res.Status)}]++
		if res.Limit != nil {
			s.metrics.limits[res.Limit.Name]++
		}
		s.metrics.wall.observe(res.WallTimeMS / 1000)
		s.metrics.setup.observe(res.SetupTimeMS / 1000)
	}
	return nil
}

func (s *Server) countCanceled(t *tenant) {
	s.metrics.mu.Lock()
	s.metrics.canceled[t.name]++
	s.metrics.mu.Unlock()
}

func (s *Server) access(t *tenant, what, pol string, herr *httpError, start time.Time, results ...*sandbox.Result) {
	if !s.accessLog {
		return
	}
	code, verdict := http.StatusOK, ""
	if herr != nil {
		code, verdict = herr.code, herr.kind
	} else {
		for _, res := range results {
			if res != nil {
				verdict += " " + string(res.Status)
			}
		}
	}
	s.logf("%s tenant=%s policy=%q code=%d%s total=%.1fms", what, t.name, pol, code, verdict, float64(time.Since(start).Microseconds())/1000)
}

func (s *Server) admissionError(t *tenant, n int, err error) *httpError {
	switch {
	case errors.Is(err, errTooBig):
		return errorf(http.StatusForbidden, KindForbidden, "this request needs %d run slots at once; tenant %s has %d and the server %d", n, t.name, t.slots.max, s.cfg.MaxConcurrent)
	case errors.Is(err, errQuota):
		e := errorf(http.StatusTooManyRequests, KindQuota, "tenant %s has its %d run slots and %d queue places in use", t.name, t.slots.max, t.slots.maxQueue)
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
	if herr := filesError(err); herr != nil {
		return herr
	}
	kind, code := KindInternal, http.StatusInternalServerError
	switch {
	case errors.Is(err, sandbox.ErrNotFound):
		kind, code = KindNotFound, http.StatusUnprocessableEntity
	case errors.Is(err, sandbox.ErrCannotExec):
		kind, code = KindCannotExec, http.StatusUnprocessableEntity
	case errors.Is(err, sandbox.ErrUnsupported):
		// Before ErrPolicy: what this host cannot do (files in a box under subordinate ids) may be a
		// refused request too, and is 500 unsupported, as a local run's 121.
		kind = KindUnsupported
	case errors.Is(err, sandbox.ErrPolicy):
		kind, code = KindPolicy, http.StatusUnprocessableEntity
	case errors.Is(err, sandbox.ErrSetup):
		kind = KindSetup
	}
	return &httpError{code: code, kind: kind, msg: err.Error()}
}

// decode reads and strictly decodes the body into v. Reading it to the end also lets net/http notice a
// client that hangs up during the run, which cancels the run.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) *httpError {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(30 * time.Second))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, KindTooLarge, "the request body is larger than %d bytes", s.cfg.MaxRequestBytes)
		}
		return errorf(http.StatusBadRequest, KindBadRequest, "reading the request body: %v", err)
	}
	// encoding/json turns bytes that are not UTF-8, and escaped lone surrogates, into U+FFFD without a word:
	// an argument would reach the command changed. Refuse them instead (bytes go as base64 where offered).
	if msg := notUTF8(body); msg != "" {
		return errorf(http.StatusBadRequest, KindBadRequest, "request body: %s; JSON text must be UTF-8 (send bytes that are not text as stdin_base64 or content_base64)", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, KindBadRequest, "request body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, KindBadRequest, "request body: trailing data after the JSON object")
	}
	return nil
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

// reply writes body with herr's status (200 when nil), setting *errField. A caller that left (499) gets
// nothing.
func (s *Server) reply(w http.ResponseWriter, herr *httpError, body any, errField **APIError) {
	code := http.StatusOK
	if herr != nil {
		if herr.code == 499 {
			return
		}
		code = herr.code
		*errField = &APIError{Kind: herr.kind, Message: herr.msg}
		if herr.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(herr.retryAfter))
		}
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jailrun"`)
		}
	}
	writeJSON(w, code, body)
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
		resp := &RunResponse{Encoding: "text"}
		s.reply(w, herr, resp, &resp.Error)
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
		resp := &RunResponse{Encoding: "text"}
		s.reply(w, herr, resp, &resp.Error)
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
	s.files.writeMetrics(&b)
	s.idem.writeMetrics(&b)
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

// notUTF8 says where body is not UTF-8 or escapes half of a surrogate pair inside a string, or "".
func notUTF8(body []byte) string {
	if !utf8.Valid(body) {
		i := 0
		for i < len(body) {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Sprintf("byte %d (0x%02x) is not UTF-8", i, body[i])
	}
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[2:6]), 16, 16)
		return rune(v), err == nil
	}
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			r, ok := hex4(body[i:])
			if !ok {
				i++ // an escape of one character (\", \\, \n, ...): skip it
				continue
			}
			switch {
			case r >= 0xd800 && r < 0xdc00:
				if lo, ok := hex4(body[i+6:]); ok && lo >= 0xdc00 && lo < 0xe000 {
					i += 11
					continue
				}
				return fmt.Sprintf("the escape at byte %d (\\u%04x) is half of a surrogate pair", i, r)
			case r >= 0xdc00 && r < 0xe000:
				return fmt.Sprintf("the escape at byte %d (\\u%04x) is half of a surrogate pair", i, r)
			}
			i += 5
		}
	}
	return ""
}

// handleUnknown answers a request no route takes: 405 with Allow when the path exists for other methods
// (asked of the mux itself, so the routes stay the one list), else 404.
func (s *Server) handleUnknown(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	var resp struct {
		Error *APIError `json:"error"`
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.reply(w, errorf(http.StatusMethodNotAllowed, KindMethod, "%s %s: method not allowed (allowed: %s; see docs/service.md)", r.Method, r.URL.Path, strings.Join(allow, ", ")), &resp, &resp.Error)
		return
	}
	s.reply(w, errorf(http.StatusNotFound, KindNoEndpoint, "%s %s: no such endpoint (see docs/service.md)", r.Method, r.URL.Path), &resp, &resp.Error)
}
