package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox/service"
)

const otherToken = "other-tenant-token-8a1e93"

func filesConfig(extra string) string {
	return fmt.Sprintf(`{
  "max_concurrent": 4,
  "tenants": [
    {"name": "grader", "uids": [%d], "policies": ["strict", "compile"]},
    {"name": "other", "token": %q, "policies": ["strict"]}
  ]%s
}`, os.Getuid(), otherToken, extra)
}

// do sends one request to the server, with a bearer token when given, and returns the status and body.
func (s *serveProc) do(method, path, token string, body []byte) (int, []byte) {
	s.t.Helper()
	hr, _ := http.NewRequest(method, "http://jailrun"+path, bytes.NewReader(body))
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(hr)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *serveProc) upload(token string, data []byte, query string) (int, service.FileResponse) {
	s.t.Helper()
	code, b := s.do("POST", "/v1/files"+query, token, data)
	var fr service.FileResponse
	if err := json.Unmarshal(b, &fr); err != nil {
		s.t.Fatalf("upload answer is not JSON: %s", b)
	}
	return code, fr
}

// Files in and out through POST /v1/run and the file store, and every way to get them wrong.
func TestServeFiles(t *testing.T) {
	requirePrivileged(t)
	filesInIDMap(t)
	s := startServe(t, filesConfig(`, "files": {"max_file_bytes": "64K", "max_inline_bytes": 100, "tenant_files": 3}`))
	ctx := context.Background()

	code, up := s.upload("", []byte("stored input\n"), "?mode=0644")
	if code != 201 || up.FileInfo == nil || !strings.HasPrefix(up.FileID, "f-") || up.Size != 13 {
		t.Fatalf("upload: %d %+v", code, up)
	}
	id := up.FileID
	a := s.run(ctx, "", map[string]any{
		"policy": "strict",
		"argv":   []string{"/bin/sh", "-c", `cat a.txt b.bin stored.txt; mkdir -p o; echo out > o/x.txt; head -c 300 /dev/zero > big; cp big big2; printf '\377' > bin; ln -s /etc/passwd link`},
		"files_in": []map[string]any{
			{"path": "a.txt", "content": "inline\n"},
			{"path": "b.bin", "content_base64": base64.StdEncoding.EncodeToString([]byte("b64\n"))},
			{"path": "stored.txt", "file_id": id},
		},
		"files_out": []any{"o/x.txt", map[string]any{"path": "big"}, map[string]any{"path": "big2", "cache": true},
			map[string]any{"path": "bin", "encoding": "base64"}, "link", "missing"},
	})
	if a.err != nil || a.code != 200 || a.body.Stdout != "inline\nb64\nstored input\n" {
		t.Fatalf("run: %d %v %s", a.code, a.err, a.raw)
	}
	fo := a.body.FilesOut
	if len(fo) != 6 {
		t.Fatalf("files_out: %s", a.raw)
	}
	if fo[0].Content == nil || *fo[0].Content != "out\n" || fo[0].Encoding != "text" {
		t.Errorf("inline text: %+v", fo[0])
	}
	if fo[1].Content != nil || !strings.Contains(fo[1].Error, "inline cap") {
		t.Errorf("over the inline cap: %+v", fo[1])
	}
	if fo[2].FileID == "" || fo[2].Size != 300 || fo[2].ExpiresAt == nil {
		t.Errorf("cached: %+v", fo[2])
	}
	if fo[3].Content == nil || *fo[3].Content != base64.StdEncoding.EncodeToString([]byte{0xff}) {
		t.Errorf("base64: %+v", fo[3])
	}
	if !strings.Contains(fo[4].Error, "symbolic link") || fo[5].Error != "not found" {
		t.Errorf("unsafe and missing: %+v %+v", fo[4], fo[5])
	}
	// The cached output is the tenant's, and only the tenant's.
	if code, b := s.do("GET", "/v1/files/"+fo[2].FileID, "", nil); code != 200 || len(b) != 300 {
		t.Errorf("GET cached output: %d, %d bytes", code, len(b))
	}
	if code, b := s.do("GET", "/v1/files/"+id, otherToken, nil); code != 404 || !strings.Contains(string(b), "file_not_found") {
		t.Errorf("another tenant's file: %d %s", code, b)
	}
	if code, _ := s.do("DELETE", "/v1/files/"+id, otherToken, nil); code != 404 {
		t.Errorf("another tenant deleted a file: %d", code)
	}
	if v := s.metric(`jailrun_files_stored{tenant="grader"}`); v != 2 {
		t.Errorf("jailrun_files_stored{grader} = %v, want 2", v)
	}

	stored := func() float64 { return s.metric(`jailrun_files_stored{tenant="grader"}`) }
	before := stored()
	for _, tc := range []struct {
		name  string
		token string
		req   map[string]any
		code  int
		kind  string
		want  string
	}{
		{"escape", "", map[string]any{"files_in": []any{map[string]any{"path": "../x", "content": "x"}}}, 400, service.KindBadRequest, "'..' component"},
		{"absolute out", "", map[string]any{"files_out": []any{"/etc/shadow"}}, 400, service.KindBadRequest, "is absolute"},
		{"two sources", "", map[string]any{"files_in": []any{map[string]any{"path": "x", "content": "x", "file_id": id}}}, 400, service.KindBadRequest, "exactly one"},
		{"bad base64", "", map[string]any{"files_in": []any{map[string]any{"path": "x", "content_base64": "!!"}}}, 400, service.KindBadRequest, "content_base64"},
		{"over the cap", "", map[string]any{"files_in": []any{map[string]any{"path": "x", "content": strings.Repeat("x", 65<<10)}}}, 413, service.KindTooLarge, "over the cap"},
		{"unknown id", "", map[string]any{"files_in": []any{map[string]any{"path": "x", "file_id": "f-nope"}}}, 404, service.KindFileNotFound, "f-nope"},
		{"another tenant's id", otherToken, map[string]any{"files_in": []any{map[string]any{"path": "x", "file_id": id}}}, 404, service.KindFileNotFound, "unknown, expired or deleted"},
		{"setuid mode", "", map[string]any{"files_in": []any{map[string]any{"path": "x", "content": "", "mode": "4755"}}}, 400, service.KindBadRequest, "beyond 0777"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{"policy": "strict", "argv": []string{"/bin/true"}, "files_out": []any{map[string]any{"path": "x", "cache": true}}}
			for k, v := range tc.req {
				req[k] = v
			}
			a := s.run(ctx, tc.token, req)
			if a.code != tc.code || a.body.Error == nil || a.body.Error.Kind != tc.kind || !strings.Contains(a.body.Error.Message, tc.want) || a.body.Result != nil {
				t.Fatalf("want %d %s with %q, got %d %s", tc.code, tc.kind, tc.want, a.code, a.raw)
			}
		})
	}
	if v := stored(); v != before {
		t.Errorf("refused requests stored files: %v, was %v", v, before)
	}

	// Quota: three files per tenant; the third upload fits, the fourth is refused with 507 and counted.
	if code, _ := s.upload("", []byte("3"), ""); code != 201 {
		t.Fatalf("third upload: %d", code)
	}
	if code, fr := s.upload("", []byte("4"), ""); code != 507 || fr.Error == nil || fr.Error.Kind != service.KindFileQuota {
		t.Fatalf("over the quota: %d %+v", code, fr.Error)
	}
	if code, fr := s.upload("", make([]byte, 65<<10), ""); code != 413 || fr.Error == nil || fr.Error.Kind != service.KindTooLarge {
		t.Fatalf("over the size cap: %d %+v", code, fr.Error)
	}
	if v := s.metric(`jailrun_files_refused_total{tenant="grader"}`); v != 1 {
		t.Errorf("jailrun_files_refused_total = %v", v)
	}
	// Delete frees the quota; the id is gone.
	if code, _ := s.do("DELETE", "/v1/files/"+id, "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := s.do("GET", "/v1/files/"+id, "", nil); code != 404 {
		t.Fatalf("deleted file still there: %d", code)
	}
	if code, _ := s.upload("", []byte("4"), ""); code != 201 {
		t.Fatalf("upload after delete: %d", code)
	}
	if v := s.metric(`jailrun_files_deleted_total{tenant="grader"}`); v != 1 {
		t.Errorf("jailrun_files_deleted_total = %v", v)
	}
	// A short TTL expires.
	_, short := s.upload(otherToken, []byte("brief"), "?ttl=300ms")
	time.Sleep(400 * time.Millisecond)
	if code, _ := s.do("GET", "/v1/files/"+short.FileID, otherToken, nil); code != 404 {
		t.Errorf("expired file: %d", code)
	}
	if v := s.metric(`jailrun_files_expired_total{tenant="other"}`); v != 1 {
		t.Errorf("jailrun_files_expired_total = %v", v)
	}
}

// The grading flow: compile a C++ program once, keep the binary in the file store, then run it on 50
// inputs, each in a fresh sandbox that gets the binary by its id, and compare with the expected outputs.
func TestServeCompileThenRun(t *testing.T) {
	skipInVM(t, "a compile and 50 runs take too long")
	requirePrivileged(t)
	filesInIDMap(t)
	if _, err := os.Stat("/usr/bin/g++"); err != nil {
		t.Skip("g++ is not installed")
	}
	s := startServe(t, filesConfig(""))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const src = `#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a * b + 1 << "\n"; }
`
	a := s.run(ctx, "", map[string]any{
		"policy":    "compile",
		"argv":      []string{"/usr/bin/g++", "-O1", "-o", "prog", "main.cpp"},
		"files_in":  []any{map[string]any{"path": "main.cpp", "content": src}},
		"files_out": []any{map[string]any{"path": "prog", "cache": true}},
	})
	if a.code != 200 || a.body.Result == nil || a.body.Result.Status != "ok" || len(a.body.FilesOut) != 1 || a.body.FilesOut[0].FileID == "" {
		t.Fatalf("compile: %d %s", a.code, a.raw)
	}
	bin := a.body.FilesOut[0]
	if bin.Mode&0o111 == 0 {
		t.Fatalf("the binary is not executable: %+v", bin)
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			x, y := int64(i*7919+3), int64(i*104729+11)
			want := fmt.Sprintf("%d\n", x*y+1)
			a := s.run(ctx, "", map[string]any{
				"policy":   "strict",
				"argv":     []string{"./prog"},
				"stdin":    fmt.Sprintf("%d %d\n", x, y),
				"files_in": []any{map[string]any{"path": "prog", "file_id": bin.FileID}},
			})
			switch {
			case a.err != nil || a.code != 200:
				errs <- fmt.Errorf("test %d: %d %v %s", i, a.code, a.err, a.raw)
			case a.body.Result.Status != "ok" || a.body.Stdout != want:
				errs <- fmt.Errorf("test %d: status %s, stdout %q, want %q", i, a.body.Result.Status, a.body.Stdout, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v := s.metric(`jailrun_runs_total{tenant="grader",status="ok"}`); v != n+1 {
		t.Errorf("jailrun_runs_total ok = %v, want %d", v, n+1)
	}
}
