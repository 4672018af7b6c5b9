package service

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// Files through the service: a run's files_in (inline text, base64, or a stored file's id) and files_out
// (returned inline, or kept in the store as a new file id), and the per-tenant file store behind
//
//	POST   /v1/files       upload the body as a file: 201 FileInfo
//	GET    /v1/files/{id}  the file's bytes
//	DELETE /v1/files/{id}  204
//
// Every copy goes through the library's Request.FilesIn/FilesOut (sandbox.CopyInAt/CopyOutAt). The store is
// in memory, per server instance: a file id is known only to the instance that issued it (docs/service.md
// says how to route a fleet). Files expire after their TTL; each tenant has a byte and a count quota.

// FilesConfig is the "files" section of the configuration.
type FilesConfig struct {
	// MaxFileBytes caps one file: an upload, one files_in entry, one files_out entry (default 64 MiB).
	MaxFileBytes Size `json:"max_file_bytes,omitempty"`
	// MaxRunBytes caps all files of one run in one direction (default 256 MiB); MaxRunFiles their number
	// (default 64).
	MaxRunBytes Size `json:"max_run_bytes,omitempty"`
	MaxRunFiles int  `json:"max_run_files,omitempty"`
	// MaxInlineBytes caps a files_out entry returned in the response (default 1 MiB); a larger one must be
	// asked for with "cache": true.
	MaxInlineBytes Size `json:"max_inline_bytes,omitempty"`
	// TenantBytes and TenantFiles are each tenant's store quota (default 256 MiB, 1024 files).
	TenantBytes Size `json:"tenant_bytes,omitempty"`
	TenantFiles int  `json:"tenant_files,omitempty"`
	// TTL is how long a stored file lives (default 1h); an upload may ask for less with ?ttl=.
	TTL Duration `json:"ttl,omitempty"`
}

// Defaults of FilesConfig.
const (
	DefaultMaxFileBytes   = 64 << 20
	DefaultMaxRunBytes    = 256 << 20
	DefaultMaxRunFiles    = 64
	DefaultMaxInlineBytes = 1 << 20
	DefaultTenantBytes    = 256 << 20
	DefaultTenantFiles    = 1024
	DefaultFileTTL        = time.Hour
)

func (c *FilesConfig) normalize() []string {
	var errs []string
	def := func(v *Size, d int64) {
		if *v == 0 {
			*v = Size(d)
		}
	}
	def(&c.MaxFileBytes, DefaultMaxFileBytes)
	def(&c.MaxRunBytes, DefaultMaxRunBytes)
	def(&c.MaxInlineBytes, DefaultMaxInlineBytes)
	def(&c.TenantBytes, DefaultTenantBytes)
	if c.MaxRunFiles == 0 {
		c.MaxRunFiles = DefaultMaxRunFiles
	}
	if c.TenantFiles == 0 {
		c.TenantFiles = DefaultTenantFiles
	}
	if c.TTL == 0 {
		c.TTL = Duration(DefaultFileTTL)
	}
	if c.MaxRunFiles < 0 || c.TenantFiles < 0 {
		errs = append(errs, "files.max_run_files and files.tenant_files must be positive")
	}
	return errs
}

// Error kinds of the file API (see the table in api.go).
const (
	KindFileNotFound = "file_not_found" // 404: unknown, expired, deleted, or another tenant's file id
	KindFileQuota    = "file_quota"     // 507: the tenant's file store quota is full
)

// FileInSpec is one files_in entry. Exactly one of Content, ContentBase64 and FileID gives the bytes.
type FileInSpec struct {
	// Path is relative to the run's box (the policy's working directory: /box under compile, /tmp under
	// strict).
	Path          string  `json:"path"`
	Content       *string `json:"content,omitempty"`
	ContentBase64 *string `json:"content_base64,omitempty"`
	FileID        string  `json:"file_id,omitempty"`
	// Mode is the permission bits: a JSON integer, or a string of octal digits ("0755"); default 0644.
	Mode FileMode `json:"mode,omitempty"`
}

// FileOutSpec is one files_out entry: a path, or an object.
type FileOutSpec struct {
	Path string `json:"path"`
	// Cache keeps the file in the store and returns its file_id instead of its content.
	Cache bool `json:"cache,omitempty"`
	// Encoding of an inline content: "text" (default; bytes that are not UTF-8 become U+FFFD) or "base64".
	Encoding string `json:"encoding,omitempty"`
}

func (f *FileOutSpec) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &f.Path)
	}
	type plain FileOutSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(f))
}

// FileOutResult is one files_out entry of a response, in the order asked.
type FileOutResult struct {
	Path   string      `json:"path"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256,omitempty"`
	Mode   os.FileMode `json:"mode,omitempty"`
	// Content and Encoding are set for an inline file; FileID and ExpiresAt for a cached one.
	Content   *string    `json:"content,omitempty"`
	Encoding  string     `json:"encoding,omitempty"`
	FileID    string     `json:"file_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Error says why the file is not here: "not found" (the run did not leave it), refused by the copy
	// (a symbolic link, over a cap), over the inline cap, or the store's quota.
	Error string `json:"error,omitempty"`
}

// FileMode is permission bits: a JSON integer, or a string of octal digits.
type FileMode os.FileMode

func (m *FileMode) UnmarshalJSON(b []byte) error {
	var v uint64
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil {
			return fmt.Errorf("mode %q is not octal permission bits such as \"0755\"", s)
		}
		v = n
	} else if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("mode must be an integer or a string of octal digits such as \"0755\"")
	}
	if v&^0o777 != 0 {
		return fmt.Errorf("mode %#o has bits beyond 0777", v)
	}
	*m = FileMode(v)
	return nil
}

// FileInfo describes a stored file (POST /v1/files answers with it).
type FileInfo struct {
	FileID    string      `json:"file_id"`
	Size      int64       `json:"size"`
	SHA256    string      `json:"sha256"`
	Mode      os.FileMode `json:"mode,omitempty"`
	ExpiresAt time.Time   `json:"expires_at"`
}

// FileResponse is the body of the file endpoints' JSON answers.
type FileResponse struct {
	*FileInfo
	Error *APIError `json:"error,omitempty"`
}

type storedFile struct {
	FileInfo
	tenant string
	data   []byte
}

type fileUsage struct {
	bytes int64
	files int
}

// fileStore is the per-tenant file store.
type fileStore struct {
	cfg   FilesConfig
	now   func() time.Time
	mu    sync.Mutex
	byID  map[string]*storedFile
	usage map[string]*fileUsage
	// counters by tenant
	stored, deleted, expired, refused map[string]float64
}

func newFileStore(cfg FilesConfig, tenants []*tenant) *fileStore {
	fs := &fileStore{cfg: cfg, now: time.Now, byID: map[string]*storedFile{}, usage: map[string]*fileUsage{},
		stored: map[string]float64{}, deleted: map[string]float64{}, expired: map[string]float64{}, refused: map[string]float64{}}
	for _, t := range tenants {
		fs.usage[t.name] = &fileUsage{}
	}
	return fs
}

// sweep drops expired files; mu held.
func (fs *fileStore) sweep() {
	now := fs.now()
	for id, f := range fs.byID {
		if now.After(f.ExpiresAt) {
			fs.remove(id, f)
			fs.expired[f.tenant]++
		}
	}
}

func (fs *fileStore) remove(id string, f *storedFile) {
	delete(fs.byID, id)
	u := fs.usage[f.tenant]
	u.bytes -= f.Size
	u.files--
}

func (fs *fileStore) put(t *tenant, data []byte, mode os.FileMode, ttl time.Duration) (*FileInfo, *httpError) {
	if int64(len(data)) > int64(fs.cfg.MaxFileBytes) {
		return nil, errorf(http.StatusRequestEntityTooLarge, KindTooLarge, "the file is %d bytes, over the cap of %d", len(data), fs.cfg.MaxFileBytes)
	}
	if ttl <= 0 || ttl > time.Duration(fs.cfg.TTL) {
		ttl = time.Duration(fs.cfg.TTL)
	}
	var rb [16]byte
	_, _ = rand.Read(rb[:])
	sum := sha256.Sum256(data)
	f := &storedFile{tenant: t.name, data: data, FileInfo: FileInfo{
		FileID: "f-" + hex.EncodeToString(rb[:]), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		Mode: mode, ExpiresAt: fs.now().Add(ttl).UTC().Round(time.Millisecond)}}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.sweep()
	u := fs.usage[t.name]
	if u.files+1 > fs.cfg.TenantFiles || u.bytes+f.Size > int64(fs.cfg.TenantBytes) {
		fs.refused[t.name]++
		return nil, errorf(http.StatusInsufficientStorage, KindFileQuota,
			"tenant %s's file store is full (%d of %d files, %d of %d bytes; this file is %d bytes): delete files or let them expire",
			t.name, u.files, fs.cfg.TenantFiles, u.bytes, fs.cfg.TenantBytes, f.Size)
	}
	fs.byID[f.FileID] = f
	u.files++
	u.bytes += f.Size
	fs.stored[t.name]++
	info := f.FileInfo
	return &info, nil
}

// get finds a tenant's file. Another tenant's file is answered exactly like an unknown one.
func (fs *fileStore) get(t *tenant, id string) (*storedFile, *httpError) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.byID[id]
	if f != nil && fs.now().After(f.ExpiresAt) {
		fs.remove(id, f)
		fs.expired[f.tenant]++
		f = nil
	}
	if f == nil || f.tenant != t.name {
		return nil, errorf(http.StatusNotFound, KindFileNotFound, "no file %s for tenant %s (unknown, expired or deleted)", quoteID(id), t.name)
	}
	return f, nil
}

func (fs *fileStore) del(t *tenant, id string) *httpError {
	f, herr := fs.get(t, id)
	if herr != nil {
		return herr
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byID[id] == f {
		fs.remove(id, f)
		fs.deleted[t.name]++
	}
	return nil
}

func quoteID(id string) string {
	if len(id) > 80 {
		id = id[:80] + "..."
	}
	return strconv.Quote(id)
}

func (fs *fileStore) writeMetrics(w io.Writer) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.sweep()
	p := &promWriter{w: w}
	names := make([]string, 0, len(fs.usage))
	for n := range fs.usage {
		names = append(names, n)
	}
	sort.Strings(names)
	p.head("jailrun_files_stored", "gauge", "Files in the file store, by tenant.")
	for _, n := range names {
		p.sample("jailrun_files_stored", float64(fs.usage[n].files), "tenant", n)
	}
	p.head("jailrun_files_stored_bytes", "gauge", "Bytes in the file store, by tenant.")
	for _, n := range names {
		p.sample("jailrun_files_stored_bytes", float64(fs.usage[n].bytes), "tenant", n)
	}
	for _, c := range []struct {
		name, help string
		m          map[string]float64
	}{
		{"jailrun_files_stored_total", "Files stored (uploads and cached run outputs), by tenant.", fs.stored},
		{"jailrun_files_deleted_total", "Files deleted by their tenant.", fs.deleted},
		{"jailrun_files_expired_total", "Files dropped at the end of their TTL.", fs.expired},
		{"jailrun_files_refused_total", "Files refused because the tenant's store quota was full.", fs.refused},
	} {
		p.head(c.name, "counter", c.help)
		for _, k := range sortedKeys(c.m) {
			p.sample(c.name, c.m[k], "tenant", k)
		}
	}
	p.gauge("jailrun_files_tenant_max_bytes", "Configured file store quota per tenant, bytes.", int(fs.cfg.TenantBytes))
	p.gauge("jailrun_files_tenant_max_files", "Configured file store quota per tenant, files.", fs.cfg.TenantFiles)
}

// --- HTTP ---

func (s *Server) fileRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /"+APIVersion+"/files", s.handleFileUpload)
	mux.HandleFunc("GET /"+APIVersion+"/files/{id}", s.handleFileGet)
	mux.HandleFunc("DELETE /"+APIVersion+"/files/{id}", s.handleFileDelete)
}

func (s *Server) replyFile(w http.ResponseWriter, code int, herr *httpError, info *FileInfo) {
	resp := &FileResponse{FileInfo: info}
	if herr != nil {
		s.reply(w, herr, resp, &resp.Error)
		return
	}
	writeJSON(w, code, resp)
}

// handleFileUpload stores the request body. ?mode=0755 records permission bits a later files_in entry
// uses by default; ?ttl=10m asks for a shorter life than the configured TTL.
func (s *Server) handleFileUpload(w http.ResponseWriter, r *http.Request) {
	t, herr := s.identify(r)
	if herr != nil {
		s.replyFile(w, 0, herr, nil)
		return
	}
	var mode FileMode
	if v := r.URL.Query().Get("mode"); v != "" {
		if err := mode.UnmarshalJSON([]byte(strconv.Quote(v))); err != nil {
			s.replyFile(w, 0, errorf(http.StatusBadRequest, KindBadRequest, "?mode: %v", err), nil)
			return
		}
	}
	var ttl time.Duration
	if v := r.URL.Query().Get("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			s.replyFile(w, 0, errorf(http.StatusBadRequest, KindBadRequest, "?ttl=%q is not a positive duration such as \"10m\"", v), nil)
			return
		}
		ttl = d
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(60 * time.Second))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.Files.MaxFileBytes)))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.replyFile(w, 0, errorf(http.StatusRequestEntityTooLarge, KindTooLarge, "the file is larger than the cap of %d bytes", s.cfg.Files.MaxFileBytes), nil)
			return
		}
		s.replyFile(w, 0, errorf(http.StatusBadRequest, KindBadRequest, "reading the file: %v", err), nil)
		return
	}
	info, herr := s.files.put(t, data, os.FileMode(mode), ttl)
	s.replyFile(w, http.StatusCreated, herr, info)
}

func (s *Server) handleFileGet(w http.ResponseWriter, r *http.Request) {
	t, herr := s.identify(r)
	if herr != nil {
		s.replyFile(w, 0, herr, nil)
		return
	}
	f, herr := s.files.get(t, r.PathValue("id"))
	if herr != nil {
		s.replyFile(w, 0, herr, nil)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.Header().Set("X-Jailrun-SHA256", f.SHA256)
	w.Header().Set("X-Jailrun-Expires-At", f.ExpiresAt.Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	w.Write(f.data)
}

func (s *Server) handleFileDelete(w http.ResponseWriter, r *http.Request) {
	t, herr := s.identify(r)
	if herr != nil {
		s.replyFile(w, 0, herr, nil)
		return
	}
	if herr := s.files.del(t, r.PathValue("id")); herr != nil {
		s.replyFile(w, 0, herr, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- runs ---

// runFiles is what a run request asked for in files.
type runFiles struct {
	in   []sandbox.FileIn
	out  []FileOutSpec
	caps sandbox.FileCaps
}

// runFiles resolves a request's files_in (decoding content, looking up file ids in the tenant's store) and
// checks everything as the library will, before the request takes a run slot.
func (s *Server) runFiles(t *tenant, pol *policy.Settings, in []FileInSpec, out []FileOutSpec) (*runFiles, *httpError) {
	if len(in) == 0 && len(out) == 0 {
		return nil, nil
	}
	c := s.cfg.Files
	rf := &runFiles{out: out, caps: sandbox.FileCaps{FileBytes: int64(c.MaxFileBytes), TotalBytes: int64(c.MaxRunBytes), Count: c.MaxRunFiles}}
	for i, f := range in {
		bad := func(format string, a ...any) *httpError {
			return errorf(http.StatusBadRequest, KindBadRequest, "files_in[%d] %s: %s", i, strconv.Quote(f.Path), fmt.Sprintf(format, a...))
		}
		n := 0
		for _, set := range []bool{f.Content != nil, f.ContentBase64 != nil, f.FileID != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, bad("set exactly one of content, content_base64 and file_id")
		}
		fi := sandbox.FileIn{Path: f.Path, Mode: os.FileMode(f.Mode)}
		switch {
		case f.Content != nil:
			fi.Content = []byte(*f.Content)
		case f.ContentBase64 != nil:
			b, err := base64.StdEncoding.DecodeString(*f.ContentBase64)
			if err != nil {
				return nil, bad("content_base64: %v", err)
			}
			fi.Content = b
		default:
			sf, herr := s.files.get(t, f.FileID)
			if herr != nil {
				herr.msg = fmt.Sprintf("files_in[%d] %s: %s", i, strconv.Quote(f.Path), herr.msg)
				return nil, herr
			}
			fi.Content = sf.data
			if fi.Mode == 0 {
				fi.Mode = sf.Mode
			}
		}
		if fi.Content == nil {
			fi.Content = []byte{}
		}
		rf.in = append(rf.in, fi)
	}
	for i, o := range out {
		if o.Encoding != "" && o.Encoding != "text" && o.Encoding != "base64" {
			return nil, errorf(http.StatusBadRequest, KindBadRequest, "files_out[%d]: encoding %q: want \"text\" or \"base64\"", i, o.Encoding)
		}
	}
	req := sandbox.Request{Policy: pol}
	rf.apply(&req)
	if err := sandbox.CheckFiles(&req); err != nil {
		return nil, filesError(err)
	}
	return rf, nil
}

func (rf *runFiles) apply(req *sandbox.Request) {
	if rf == nil {
		return
	}
	req.FilesIn, req.FileCaps = rf.in, rf.caps
	for _, o := range rf.out {
		req.FilesOut = append(req.FilesOut, o.Path)
	}
}

// collect turns the run's copied-out files into the response's entries: inline, or stored in the tenant's
// store. When the request failed, nothing is stored.
func (s *Server) collectFiles(t *tenant, rf *runFiles, res *sandbox.Result, failed bool) []FileOutResult {
	if rf == nil || len(rf.out) == 0 || res == nil || len(res.FilesOut) != len(rf.out) || failed {
		return nil
	}
	out := make([]FileOutResult, len(rf.out))
	for i, spec := range rf.out {
		got := res.FilesOut[i]
		o := &out[i]
		o.Path = spec.Path
		if got.Err != nil {
			o.Error = got.Error
			continue
		}
		o.Size, o.SHA256, o.Mode = got.Size, got.SHA256, got.Mode
		if spec.Cache {
			info, herr := s.files.put(t, got.Content, got.Mode, 0)
			if herr != nil {
				o.Error = herr.msg
				continue
			}
			o.FileID, o.ExpiresAt = info.FileID, &info.ExpiresAt
			continue
		}
		if got.Size > int64(s.cfg.Files.MaxInlineBytes) {
			o.Error = fmt.Sprintf("%d bytes, over the inline cap of %d: ask for it with \"cache\": true", got.Size, s.cfg.Files.MaxInlineBytes)
			continue
		}
		o.Encoding = spec.Encoding
		if o.Encoding == "" {
			o.Encoding = "text"
		}
		var c string
		if o.Encoding == "base64" {
			c = base64.StdEncoding.EncodeToString(got.Content)
		} else {
			c = strings.ToValidUTF8(string(got.Content), string(utf8.RuneError))
		}
		o.Content = &c
	}
	return out
}

// filesError maps a refused file copy to its answer, or returns nil for other errors: a path leaving the
// box or a bad entry is 400, anything over a cap 413, a policy without a box 422.
func filesError(err error) *httpError {
	var fe *sandbox.FileRequestError
	if !errors.As(err, &fe) || errors.Is(err, sandbox.ErrUnsupported) {
		return nil
	}
	switch {
	case errors.Is(err, sandbox.ErrFileTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, KindTooLarge, "%v", fe)
	case fe.Dir == "files":
		return errorf(http.StatusUnprocessableEntity, KindPolicy, "%v", fe)
	}
	return errorf(http.StatusBadRequest, KindBadRequest, "%v", fe)
}
