package service

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// The wire forms of files_in and files_out: modes as integers or octal strings, files_out entries as a
// path or an object, and nothing beyond 0777 or unknown fields.
func TestFileSpecsDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RunRequest
		err  string
	}{
		{in: `{"files_in": [{"path": "a", "content": "x", "mode": "0755"}]}`, want: RunRequest{FilesIn: []FileInSpec{{Path: "a", Mode: 0o755}}}},
		{in: `{"files_in": [{"path": "a", "content": "x", "mode": 493}]}`, want: RunRequest{FilesIn: []FileInSpec{{Path: "a", Mode: 0o755}}}},
		{in: `{"files_in": [{"path": "a", "mode": "4755"}]}`, err: "beyond 0777"},
		{in: `{"files_in": [{"path": "a", "mode": "rwx"}]}`, err: "octal"},
		{in: `{"files_out": ["a", {"path": "b", "cache": true}]}`, want: RunRequest{FilesOut: []FileOutSpec{{Path: "a"}, {Path: "b", Cache: true}}}},
		{in: `{"files_out": [{"path": "b", "cahce": true}]}`, err: "unknown field"},
	} {
		var got RunRequest
		dec := json.NewDecoder(strings.NewReader(tc.in))
		dec.DisallowUnknownFields()
		err := dec.Decode(&got)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		for i, f := range tc.want.FilesIn {
			if got.FilesIn[i].Path != f.Path || got.FilesIn[i].Mode != f.Mode {
				t.Errorf("%s: files_in[%d] = %+v", tc.in, i, got.FilesIn[i])
			}
		}
		for i, f := range tc.want.FilesOut {
			if got.FilesOut[i] != f {
				t.Errorf("%s: files_out[%d] = %+v", tc.in, i, got.FilesOut[i])
			}
		}
	}
}

// The store's quota, TTL and tenant separation, on a clock the test moves.
func TestFileStoreQuotaAndTTL(t *testing.T) {
	cfg := FilesConfig{TenantFiles: 2, TenantBytes: 10}
	cfg.normalize()
	a, b := &tenant{name: "a"}, &tenant{name: "b"}
	fs := newFileStore(cfg, []*tenant{a, b})
	now := time.Unix(1e9, 0)
	fs.now = func() time.Time { return now }
	f1, herr := fs.put(a, []byte("12345"), 0o644, 0)
	if herr != nil {
		t.Fatal(herr)
	}
	if _, herr := fs.put(a, []byte("123456"), 0, 0); herr == nil || herr.code != 507 {
		t.Fatalf("over the byte quota: %v", herr)
	}
	if _, herr := fs.get(b, f1.FileID); herr == nil || herr.code != 404 {
		t.Fatalf("another tenant's file: %v", herr)
	}
	if _, herr := fs.put(a, []byte("1"), 0, time.Minute); herr != nil {
		t.Fatal(herr)
	}
	if _, herr := fs.put(a, []byte("1"), 0, 0); herr == nil || herr.kind != KindFileQuota {
		t.Fatalf("over the count quota: %v", herr)
	}
	now = now.Add(2 * time.Minute) // the second file expires; the first lives for the default hour
	if _, herr := fs.put(a, []byte("1"), os.FileMode(0), 0); herr != nil {
		t.Fatalf("after expiry: %v", herr)
	}
	if f, herr := fs.get(a, f1.FileID); herr != nil || string(f.data) != "12345" {
		t.Fatalf("first file: %v", herr)
	}
	now = now.Add(time.Hour)
	if _, herr := fs.get(a, f1.FileID); herr == nil {
		t.Fatal("expired file still served")
	}
	if fs.expired["a"] != 2 || fs.usage["a"].files != 1 || fs.usage["a"].bytes != 1 {
		t.Fatalf("expired %v, usage %+v", fs.expired, fs.usage["a"])
	}
}
