package service

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		want string // substring of the error; "" = valid
	}{
		{"minimal", `{"tenants": [{"name": "a", "uids": [1000], "policies": ["strict"]}]}`, ""},
		{"token and gids", `{"tenants": [{"name": "a", "gids": [50], "token": "0123456789abcdef", "policies": ["strict"]}]}`, ""},
		{"digest", `{"tenants": [{"name": "a", "token_sha256": "` + strings.Repeat("ab", 32) + `", "policies": ["strict"]}]}`, ""},
		{"no tenants", `{"tenants": []}`, "no tenants"},
		{"unknown field", `{"tenants": [{"name": "a", "uids": [1], "policies": ["strict"], "max_concurent": 3}]}`, "unknown field"},
		{"trailing data", `{"tenants": [{"name": "a", "uids": [1], "policies": ["strict"]}]} x`, "trailing"},
		{"nobody can be it", `{"tenants": [{"name": "a", "policies": ["strict"]}]}`, "nobody could be this tenant"},
		{"empty allowlist", `{"tenants": [{"name": "a", "uids": [1], "policies": []}]}`, "empty policies allowlist"},
		{"short token", `{"tenants": [{"name": "a", "token": "short", "policies": ["strict"]}]}`, "at least 16"},
		{"bad digest", `{"tenants": [{"name": "a", "token_sha256": "abc", "policies": ["strict"]}]}`, "64 hex digits"},
		{"both token forms", `{"tenants": [{"name": "a", "token": "0123456789abcdef", "token_sha256": "` + strings.Repeat("ab", 32) + `", "policies": ["strict"]}]}`, "not both"},
		{"duplicate uid", `{"tenants": [{"name": "a", "uids": [1], "policies": ["strict"]}, {"name": "b", "uids": [1], "policies": ["strict"]}]}`, "uid 1 already belongs"},
		{"duplicate token", `{"tenants": [{"name": "a", "token": "0123456789abcdef", "policies": ["strict"]}, {"name": "b", "token": "0123456789abcdef", "policies": ["strict"]}]}`, "same token"},
		{"duplicate name", `{"tenants": [{"name": "a", "uids": [1], "policies": ["strict"]}, {"name": "a", "uids": [2], "policies": ["strict"]}]}`, "defined twice"},
		{"bad name", `{"tenants": [{"name": "a b\"", "uids": [1], "policies": ["strict"]}]}`, "name"},
		{"negative queue", `{"max_queue": -1, "tenants": [{"name": "a", "uids": [1], "policies": ["strict"]}]}`, "max_queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, tn := range c.Tenants {
					if tn.Token != "" {
						t.Fatal("the plain token is kept after parsing")
					}
					if tn.MaxConcurrent < 1 || tn.MaxQueue == nil {
						t.Fatalf("defaults not filled: %+v", tn)
					}
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want ErrConfig mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

func TestLoadConfigPermissions(t *testing.T) {
	dir := t.TempDir()
	withToken := `{"tenants": [{"name": "a", "token": "0123456789abcdef", "policies": ["strict"]}]}`
	withDigest := `{"tenants": [{"name": "a", "token_sha256": "` + strings.Repeat("ab", 32) + `", "policies": ["strict"]}]}`
	for _, tc := range []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"private with token", withToken, 0o600, ""},
		{"group-readable with token", withToken, 0o640, ""},
		{"world-readable with token", withToken, 0o644, "readable by others"},
		{"world-readable with digest", withDigest, 0o644, ""},
		{"group-writable", withDigest, 0o664, "writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if tc.want == "" && err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
	if _, err := LoadConfig(dir); err == nil {
		t.Fatal("a directory was accepted as the config")
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		size int64
		dur  time.Duration
		bad  bool
	}{
		{in: `4096`, size: 4096, dur: 4096 * time.Millisecond},
		{in: `"256M"`, size: 256 << 20},
		{in: `"64KiB"`, size: 64 << 10},
		{in: `"1.5s"`, dur: 1500 * time.Millisecond},
		{in: `"200ms"`, dur: 200 * time.Millisecond},
		{in: `"64MB"`, bad: true},
		{in: `-1`, bad: true},
		{in: `"-1s"`, bad: true},
		{in: `"2000000T"`, bad: true},
		{in: `1.5`, bad: true},
	} {
		var s Size
		serr := json.Unmarshal([]byte(tc.in), &s)
		var d Duration
		derr := json.Unmarshal([]byte(tc.in), &d)
		if tc.bad {
			if serr == nil && derr == nil {
				t.Errorf("%s accepted as size %d and duration %v", tc.in, s, time.Duration(d))
			}
			continue
		}
		if tc.size != 0 && (serr != nil || int64(s) != tc.size) {
			t.Errorf("size %s = %d, %v; want %d", tc.in, s, serr, tc.size)
		}
		if tc.dur != 0 && (derr != nil || time.Duration(d) != tc.dur) {
			t.Errorf("duration %s = %v, %v; want %v", tc.in, time.Duration(d), derr, tc.dur)
		}
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "j.sock")
	l, err := ListenUnix(sock, 0o640, os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(sock)
	if err != nil || st.Mode().Perm() != 0o640 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v mode %v", err, st.Mode())
	}
	if l.Addr().String() != sock {
		t.Fatalf("Addr %s", l.Addr())
	}
	// A live socket is not taken over.
	if _, err := ListenUnix(sock, 0o600, -1); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Fatalf("second listener on a live socket: %v", err)
	}
	l.Close()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket not removed on close: %v", err)
	}
	// A stale socket (nobody listening) is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	l2, err := ListenUnix(sock, 0o600, -1)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	// Anything else at the path is left alone.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o600)
	if _, err := ListenUnix(file, 0o600, -1); err == nil {
		t.Fatal("a regular file was replaced by the socket")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("the regular file was modified")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary directories left behind: %v", ents)
	}
}

// The shipped example configuration must stay valid.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../deploy/serve.example.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 2 || c.Tenants[1].Limits.Output.Total != 1<<20 {
		t.Fatalf("%+v", c)
	}
}
