package service

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"sync"
	"time"
)

// Idempotent retries of POST /v1/run. A client that did not get an answer cannot tell whether its run
// happened; with an Idempotency-Key header it can send the same request again:
//
//   - the first request with a key runs as usual, and its answer is kept for IdempotencyTTL;
//   - a request with a key whose run is still going gets 409 in_progress (Retry-After: 1);
//   - a request with a key whose run has ended gets the kept answer again, byte for byte, with the header
//     Idempotent-Replayed: true — the run is not repeated;
//   - the same key with a different body is refused (422 idempotency_mismatch).
//
// Answers that say the run did not happen (429 quota, 503 queue_full or shutting_down, a client that went
// away and so had its run killed) are not kept: retrying them runs the request. Keys are per tenant and
// per server instance (docs/service.md: a fleet routes a retry to the instance that has the key, or, when
// that instance is gone, anywhere: its runs died with it).

// IdempotencyTTL is how long an answer is kept for replays.
const IdempotencyTTL = 10 * time.Minute

// maxIdempotencyKeys bounds the kept answers per server; beyond it new keys are refused (503) until old
// ones expire.
const maxIdempotencyKeys = 100000

// Error kinds of idempotent requests.
const (
	KindInProgress          = "in_progress"          // 409: a request with this key is running
	KindIdempotencyMismatch = "idempotency_mismatch" // 422: the key was used with another body
)

type idemEntry struct {
	sum     [32]byte
	done    bool
	code    int
	header  http.Header
	body    []byte
	expires time.Time
}

type idemStore struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[[2]string]*idemEntry // tenant, key
	replays map[string]float64
}

func newIdemStore() *idemStore {
	return &idemStore{now: time.Now, entries: map[[2]string]*idemEntry{}, replays: map[string]float64{}}
}

func (st *idemStore) sweep() {
	now := st.now()
	for k, e := range st.entries {
		if e.done && now.After(e.expires) {
			delete(st.entries, k)
		}
	}
}

// validKey: 1-255 visible ASCII characters.
func validKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent serves a run request that carries an Idempotency-Key with serve, keeping its answer. It
// returns false when the request has no key (or no tenant: serve then refuses it as usual).
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) bool {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return false
	}
	t, herr := s.identify(r)
	if herr != nil {
		return false
	}
	refuse := func(herr *httpError) {
		resp := &RunResponse{Encoding: "text"}
		s.reply(w, herr, resp, &resp.Error)
	}
	if !validKey(key) {
		refuse(errorf(http.StatusBadRequest, KindBadRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters"))
		return true
	}
	// The body is read here to compare it with the first request's; serve reads it again from memory.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err != nil {
		refuse(errorf(http.StatusRequestEntityTooLarge, KindTooLarge, "the request body is larger than %d bytes", s.cfg.MaxRequestBytes))
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	k := [2]string{t.name, key}

	st := s.idem
	st.mu.Lock()
	st.sweep()
	e := st.entries[k]
	switch {
	case e != nil && e.sum != sum:
		st.mu.Unlock()
		refuse(errorf(http.StatusUnprocessableEntity, KindIdempotencyMismatch, "Idempotency-Key %s was used with a different request body; use a new key for a new request", quoteID(key)))
		return true
	case e != nil && !e.done:
		st.mu.Unlock()
		herr := errorf(http.StatusConflict, KindInProgress, "the request with Idempotency-Key %s is still running; retry later for its answer", quoteID(key))
		herr.retryAfter = 1
		refuse(herr)
		return true
	case e != nil:
		st.replays[t.name]++
		st.mu.Unlock()
		for name, v := range e.header {
			w.Header()[name] = v
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(e.code)
		w.Write(e.body)
		return true
	case len(st.entries) >= maxIdempotencyKeys:
		st.mu.Unlock()
		herr := errorf(http.StatusServiceUnavailable, KindQueueFull, "too many idempotency keys are kept (%d); retry later", maxIdempotencyKeys)
		herr.retryAfter = 1
		refuse(herr)
		return true
	}
	e = &idemEntry{sum: sum}
	st.entries[k] = e
	st.mu.Unlock()

	rec := &recorder{ResponseWriter: w, code: http.StatusOK}
	r.Header.Del("Idempotency-Key") // serve is the handler itself: it must not come back here
	serve(rec, r)

	st.mu.Lock()
	defer st.mu.Unlock()
	if rec.code == 499 || rec.code == http.StatusTooManyRequests || rec.code == http.StatusServiceUnavailable || !rec.wrote {
		// The run did not happen, or was killed: a retry must run it.
		delete(st.entries, k)
		return true
	}
	e.done, e.code, e.body, e.expires = true, rec.code, rec.body.Bytes(), st.now().Add(IdempotencyTTL)
	e.header = http.Header{}
	for _, name := range []string{"Content-Type", "Content-Length", "Retry-After"} {
		if v := rec.Header().Get(name); v != "" {
			e.header.Set(name, v)
		}
	}
	return true
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	code  int
	wrote bool
	body  bytes.Buffer
}

func (rc *recorder) WriteHeader(code int) {
	rc.code, rc.wrote = code, true
	rc.ResponseWriter.WriteHeader(code)
}

func (rc *recorder) Write(p []byte) (int, error) {
	rc.wrote = true
	rc.body.Write(p)
	return rc.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (rc *recorder) Unwrap() http.ResponseWriter { return rc.ResponseWriter }

func (st *idemStore) writeMetrics(w io.Writer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep()
	p := &promWriter{w: w}
	p.gauge("jailrun_idempotency_keys", "Idempotency keys kept (running or answered).", len(st.entries))
	p.head("jailrun_idempotent_replays_total", "counter", "Answers replayed for a retried Idempotency-Key, by tenant.")
	for _, k := range sortedKeys(st.replays) {
		p.sample("jailrun_idempotent_replays_total", st.replays[k], "tenant", k)
	}
}
