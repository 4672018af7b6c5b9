package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/jailrun/jailrun/internal/ident"
)

// ErrConfig matches every problem with a service configuration.
var ErrConfig = errors.New("invalid service configuration")

// Config is the service configuration file (JSON). Unknown fields are refused.
type Config struct {
	// MaxConcurrent is how many runs execute at once across all tenants (default: the number of CPUs).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// MaxQueue is how many requests may wait for a slot across all tenants (default 256); beyond it the
	// server answers 503.
	MaxQueue *int `json:"max_queue,omitempty"`
	// MaxRequestBytes caps a request body, stdin included (default 16 MiB).
	MaxRequestBytes int64 `json:"max_request_bytes,omitempty"`
	// MaxCaptureBytes caps what a request may ask to get back per stream (default 16 MiB).
	MaxCaptureBytes int64 `json:"max_capture_bytes,omitempty"`
	// MaxConnections caps open client connections, so a flood of idle sockets cannot exhaust the server's
	// file descriptors (default 1024).
	MaxConnections int `json:"max_connections,omitempty"`
	// Tenants are the callers. A request from anyone else is refused.
	Tenants []Tenant `json:"tenants"`
	// Files caps run files and the per-tenant file store (files.go).
	Files FilesConfig `json:"files,omitzero"`

	plainTokens bool // some tenant's token was written in plain text (LoadConfig checks the file mode)
}

// Tenant is one caller of the service.
type Tenant struct {
	// Name identifies the tenant in logs and metrics: letters, digits, '_', '-', '.', at most 64.
	Name string `json:"name"`
	// UIDs and GIDs match callers on the unix socket by their peer credentials (SO_PEERCRED): the uid,
	// else the primary gid of the connecting process.
	UIDs []uint32 `json:"uids,omitempty"`
	GIDs []uint32 `json:"gids,omitempty"`
	// Token (at least 16 characters) or TokenSHA256 (hex digest of the token) match callers presenting
	// "Authorization: Bearer TOKEN", on either listener. A presented token that matches no tenant is
	// refused even when the peer credentials would match.
	Token       string `json:"token,omitempty"`
	TokenSHA256 string `json:"token_sha256,omitempty"`
	// Policies is the allowlist: built-in names or policy file paths, loaded and compiled at startup. A
	// request names one of them exactly.
	Policies []string `json:"policies"`
	// MaxConcurrent is how many of the tenant's runs execute at once (default: the global value).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// MaxQueue is how many more of its requests may wait (default: the global value; 0: none). A tenant
	// with MaxConcurrent+MaxQueue requests in the server, running or waiting, gets 429 with Retry-After.
	MaxQueue *int `json:"max_queue,omitempty"`
	// Limits are ceilings on every run of the tenant, applied to each allowed policy where they are
	// tighter. A request's overrides must then tighten further.
	Limits *Limits `json:"limits,omitempty"`
}

// Defaults.
const (
	DefaultMaxQueue        = 256
	DefaultMaxRequestBytes = 16 << 20
	DefaultMaxCaptureBytes = 16 << 20
	DefaultMaxConnections  = 1024
	maxConfigFile          = 1 << 20
	minTokenLen            = 16
)

// LoadConfig reads a configuration file. It refuses a file other users could write (they could add
// themselves as a tenant), and one holding plain tokens that other users can read.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrConfig, path)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%w: %s is writable by group or others (mode %04o); chmod go-w", ErrConfig, path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%w: %s is larger than 1 MiB", ErrConfig, path)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode().Perm()&0o004 != 0 && c.plainTokens {
		return nil, fmt.Errorf("%w: %s holds plain tokens and is readable by others (mode %04o); chmod o-r, or use token_sha256", ErrConfig, path, st.Mode().Perm())
	}
	return c, nil
}

// ParseConfig parses and validates a configuration and fills in its defaults.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrConfig)
	}
	if err := c.normalize(); err != nil {
		return nil, err
	}
	return &c, nil
}

// DefaultConfig is the configuration without a file: the server's own uid (root, when it runs as a system
// service) may use every built-in policy.
func DefaultConfig(builtins []string) *Config {
	c := &Config{Tenants: []Tenant{{Name: "local", UIDs: []uint32{uint32(os.Geteuid())}, Policies: builtins}}}
	if err := c.normalize(); err != nil {
		panic(err) // a fixed, valid configuration
	}
	return c
}

// normalize checks c and fills in defaults.
func (c *Config) normalize() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = runtime.NumCPU()
	}
	if c.MaxConcurrent < 0 {
		bad("max_concurrent must be positive")
	}
	if c.MaxQueue == nil {
		c.MaxQueue = ptr(DefaultMaxQueue)
	} else if *c.MaxQueue < 0 {
		bad("max_queue must not be negative")
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxCaptureBytes == 0 {
		c.MaxCaptureBytes = DefaultMaxCaptureBytes
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxRequestBytes < 0 || c.MaxCaptureBytes < 0 || c.MaxConnections < 0 {
		bad("max_request_bytes, max_capture_bytes and max_connections must be positive")
	}
	if len(c.Tenants) == 0 {
		bad("no tenants: nobody could use the service")
	}
	errs = append(errs, c.Files.normalize()...)
	names, uids, gids, tokens := map[string]bool{}, map[uint32]string{}, map[uint32]string{}, map[string]string{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		where := fmt.Sprintf("tenants[%d]", i)
		if !ident.Valid(t.Name) {
			bad("%s.name %q: want 1-64 letters, digits, '_', '-' or '.'", where, t.Name)
		} else {
			where = fmt.Sprintf("tenant %q", t.Name)
		}
		if names[t.Name] {
			bad("%s is defined twice", where)
		}
		names[t.Name] = true
		if len(t.UIDs) == 0 && len(t.GIDs) == 0 && t.Token == "" && t.TokenSHA256 == "" {
			bad("%s has no uids, gids or token: nobody could be this tenant", where)
		}
		for _, u := range t.UIDs {
			if o, dup := uids[u]; dup {
				bad("%s: uid %d already belongs to tenant %q", where, u, o)
			}
			uids[u] = t.Name
		}
		for _, g := range t.GIDs {
			if o, dup := gids[g]; dup {
				bad("%s: gid %d already belongs to tenant %q", where, g, o)
			}
			gids[g] = t.Name
		}
		switch {
		case t.Token != "" && t.TokenSHA256 != "":
			bad("%s: set token or token_sha256, not both", where)
		case t.Token != "":
			if len(t.Token) < minTokenLen || strings.TrimSpace(t.Token) != t.Token {
				bad("%s: token must be at least %d characters without surrounding spaces", where, minTokenLen)
			}
			sum := sha256.Sum256([]byte(t.Token))
			t.TokenSHA256 = hex.EncodeToString(sum[:])
			// Only the digest is kept, so a token can never end up in a log or a dump of the config.
			t.Token = ""
			c.plainTokens = true
		case t.TokenSHA256 != "":
			t.TokenSHA256 = strings.ToLower(t.TokenSHA256)
			if b, err := hex.DecodeString(t.TokenSHA256); err != nil || len(b) != sha256.Size {
				bad("%s: token_sha256 must be 64 hex digits", where)
			}
		}
		if t.TokenSHA256 != "" {
			if o, dup := tokens[t.TokenSHA256]; dup {
				bad("%s: the same token as tenant %q", where, o)
			}
			tokens[t.TokenSHA256] = t.Name
		}
		if len(t.Policies) == 0 {
			bad("%s has an empty policies allowlist", where)
		}
		if t.MaxConcurrent == 0 {
			t.MaxConcurrent = c.MaxConcurrent
		}
		if t.MaxConcurrent < 0 {
			bad("%s: max_concurrent must be positive", where)
		}
		if t.MaxQueue == nil {
			t.MaxQueue = ptr(*c.MaxQueue)
		} else if *t.MaxQueue < 0 {
			bad("%s: max_queue must not be negative", where)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
