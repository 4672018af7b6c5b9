package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// APIVersion is the path prefix of the run endpoints. The Result inside a response carries its own
// schema_version (sandbox.SchemaVersion).
const APIVersion = "v1"

// RunRequest is the body of POST /v1/run.
type RunRequest struct {
	// Policy names one of the caller's allowed policies, exactly as the tenant's allowlist spells it.
	Policy string `json:"policy"`
	// Argv is the command: a path inside the sandbox or a name looked up in the sandbox's PATH. It is
	// refused (422) for a policy with a command template, which takes Params instead.
	Argv []string `json:"argv,omitempty"`
	// Params fill the policy's command template, NAME: VALUE; each value becomes exactly one argument,
	// checked for the parameter's declared type. Refused for a policy without a template.
	Params map[string]string `json:"params,omitempty"`
	// Env offers "K=V" entries to the policy's env allowlist; anything the policy does not allow is dropped.
	Env []string `json:"env,omitempty"`
	// Stdin is the child's standard input as text; StdinBase64 is the same as base64. At most one is set;
	// with neither the child reads /dev/null.
	Stdin       *string `json:"stdin,omitempty"`
	StdinBase64 *string `json:"stdin_base64,omitempty"`
	// Overrides may only tighten the policy (and the tenant's caps).
	Overrides *Limits `json:"overrides,omitempty"`
	Capture   Capture `json:"capture"`
	// FilesIn are put in the run's box before the command starts; FilesOut are taken out after it
	// (files.go, docs/service.md).
	FilesIn  []FileInSpec  `json:"files_in,omitempty"`
	FilesOut []FileOutSpec `json:"files_out,omitempty"`
}

// Capture says how much of the child's output comes back in the response. It is separate from the
// policy's output limits: those end the run, these only truncate what is returned.
type Capture struct {
	// StdoutMax and StderrMax are byte caps; absent means DefaultCapture, 0 means none.
	StdoutMax *int64 `json:"stdout_max,omitempty"`
	StderrMax *int64 `json:"stderr_max,omitempty"`
	// Encoding is "text" (default; bytes that are not UTF-8 become U+FFFD) or "base64" (exact bytes).
	Encoding string `json:"encoding,omitempty"`
}

// DefaultCapture is how many bytes of each stream a response carries unless the request says otherwise.
const DefaultCapture = 1 << 20

// RunResponse is the body of every /v1/run answer, success or not.
type RunResponse struct {
	// Result is the run's verdict, the same object the CLI and the library produce. It is present whenever
	// the sandbox was started (also on setup failures and cancellations).
	Result *sandbox.Result `json:"result,omitempty"`
	Stdout string          `json:"stdout"`
	Stderr string          `json:"stderr"`
	// Encoding is how Stdout and Stderr are encoded: "text" or "base64".
	Encoding string `json:"encoding"`
	// StdoutTruncated and StderrTruncated say the capture cap cut what is returned (not the run).
	StdoutTruncated bool `json:"stdout_truncated,omitempty"`
	StderrTruncated bool `json:"stderr_truncated,omitempty"`
	// FilesOut answers the request's files_out, in order: inline content or a stored file's id, or why not.
	FilesOut []FileOutResult `json:"files_out,omitempty"`
	// QueueMS is how long the request waited for a run slot.
	QueueMS float64   `json:"queue_ms"`
	Error   *APIError `json:"error,omitempty"`

	// Meta is Result as an isolate-compatible meta file ("time:0.012\n...exitcode:0\n", see
	// docs/isolate-meta.md); present with Result.
	Meta string `json:"meta,omitempty"`
}

// InteractRequest is the body of POST /v1/interact: a solution and an interactor in two sandboxes, the
// solution's stdout connected to the interactor's stdin and back (sandbox.Interact). It uses two of the
// tenant's run slots at once.
type InteractRequest struct {
	Solution   Side `json:"solution"`
	Interactor Side `json:"interactor"`
	// PeerGrace stops a side this long after the other ended (default: each side's own limits decide).
	PeerGrace Duration `json:"peer_grace,omitempty"`
	// Transcript asks for the exchange in the response as JSON lines (see sandbox.DecodeTranscript), up to
	// TranscriptMax bytes of data (default DefaultCapture).
	Transcript    bool `json:"transcript,omitempty"`
	TranscriptMax Size `json:"transcript_max,omitempty"`
	// Capture applies to each side's stderr; stdout_max is refused (stdout goes to the other side).
	Capture Capture `json:"capture"`
}

// Side is one program of an interactive run.
type Side struct {
	Policy    string            `json:"policy"`
	Argv      []string          `json:"argv,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	Env       []string          `json:"env,omitempty"`
	Overrides *Limits           `json:"overrides,omitempty"`
}

// InteractResponse is the body of every /v1/interact answer.
type InteractResponse struct {
	// Result has both sides' verdicts and the account of each direction.
	Result                    *sandbox.InteractResult `json:"result,omitempty"`
	SolutionStderr            string                  `json:"solution_stderr"`
	InteractorStderr          string                  `json:"interactor_stderr"`
	SolutionStderrTruncated   bool                    `json:"solution_stderr_truncated,omitempty"`
	InteractorStderrTruncated bool                    `json:"interactor_stderr_truncated,omitempty"`
	Encoding                  string                  `json:"encoding"`
	// Transcript is the exchange as JSON lines, when asked for.
	Transcript string    `json:"transcript,omitempty"`
	QueueMS    float64   `json:"queue_ms"`
	Error      *APIError `json:"error,omitempty"`

	// SolutionMeta and InteractorMeta are each side's result as an isolate-compatible meta file (see
	// RunResponse.Meta); present with that side's result.
	SolutionMeta   string `json:"solution_meta,omitempty"`
	InteractorMeta string `json:"interactor_meta,omitempty"`
}

// APIError is the error member of a response. Kind is stable and meant for programs; Message for people.
type APIError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Error kinds and the HTTP status each comes with.
const (
	KindBadRequest      = "bad_request"     // 400: malformed JSON, unknown field, bad value
	KindUnauthenticated = "unauthenticated" // 401: no or unknown bearer token
	KindForbidden       = "forbidden"       // 403: caller is not a tenant, the policy is not allowed, or too few slots
	KindTooLarge        = "too_large"       // 413: the request body is over the limit
	KindPolicy          = "policy"          // 422: an override would loosen the policy, or the command is invalid
	KindNotFound        = "not_found"       // 422: the command does not exist inside the sandbox
	KindCannotExec      = "cannot_exec"     // 422: the command exists but cannot be executed
	KindQuota           = "quota"           // 429: the tenant's concurrency and queue are full (Retry-After)
	KindQueueFull       = "queue_full"      // 503: the server's global queue is full (Retry-After)
	KindShuttingDown    = "shutting_down"   // 503: the server is draining; retry on another instance
	KindUnsupported     = "unsupported"     // 500: this host cannot enforce what the policy requires
	KindSetup           = "setup"           // 500: the sandbox could not be built
	KindInternal        = "internal"        // 500
	KindNotImplemented  = "not_implemented" // 501
	KindNoEndpoint      = "no_endpoint"     // 404: no such path
	KindMethod          = "method"          // 405: the path exists for other methods (Allow)
)

// Limits is the wire form of sandbox.Overrides. Sizes are bytes as a JSON integer or a string with a
// binary suffix ("256M", "64KiB"); durations are milliseconds as a JSON integer or a Go duration string
// ("1.5s", "200ms") — the same units as policy files.
type Limits struct {
	Memory       Size     `json:"memory,omitempty"`
	Pids         int64    `json:"pids,omitempty"`
	CPU          float64  `json:"cpu,omitempty"`
	CPUTime      Duration `json:"cpu_time,omitempty"`
	WallTime     Duration `json:"wall_time,omitempty"`
	Output       Output   `json:"output,omitzero"`
	FileSize     Size     `json:"file_size,omitempty"`
	OpenFiles    int64    `json:"open_files,omitempty"`
	AddressSpace Size     `json:"address_space,omitempty"`
}

// Output is the wire form of policy.OutputLimits.
type Output struct {
	Stdout Size `json:"stdout,omitempty"`
	Stderr Size `json:"stderr,omitempty"`
	Total  Size `json:"total,omitempty"`
}

// UnmarshalJSON refuses an override given as 0 (or "0s"), which the library's Overrides cannot tell from
// an absent one: left as it was, "pids": 0 would silently change nothing. The message is the policy
// language's where a policy file could not hold 0 either ("0 is out of range (allowed: 1..4194304)").
func (l *Limits) UnmarshalJSON(b []byte) error {
	type plain Limits
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode((*plain)(l)); err != nil {
		return err
	}
	var given map[string]json.RawMessage
	if err := json.Unmarshal(b, &given); err != nil {
		return err
	}
	for k, raw := range given {
		if string(bytes.TrimSpace(raw)) == "null" {
			delete(given, k) // null is absent, as for the decoder above
		}
	}
	zero := func(field string, v any) error {
		msg := policy.CheckLimit(field, v)
		if msg == "" {
			msg = "0 cannot be an override (0 means none): omit the field, or give a positive value"
		}
		return fmt.Errorf("overrides.%s: %s", field, msg)
	}
	check := []struct {
		key   string
		isSet bool
		v     any
	}{
		{"memory", l.Memory != 0, int64(0)}, {"pids", l.Pids != 0, int64(0)}, {"cpu", l.CPU != 0, float64(0)},
		{"cpu_time", l.CPUTime != 0, time.Duration(0)}, {"wall_time", l.WallTime != 0, time.Duration(0)},
		{"file_size", l.FileSize != 0, int64(0)}, {"open_files", l.OpenFiles != 0, int64(0)},
		{"address_space", l.AddressSpace != 0, int64(0)},
	}
	for _, c := range check {
		if _, ok := given[c.key]; ok && !c.isSet {
			return zero(c.key, c.v)
		}
	}
	if raw, ok := given["output"]; ok {
		var out map[string]json.RawMessage
		if err := json.Unmarshal(raw, &out); err == nil {
			for key, v := range map[string]Size{"stdout": l.Output.Stdout, "stderr": l.Output.Stderr, "total": l.Output.Total} {
				if _, ok := out[key]; ok && v == 0 {
					return zero("output."+key, int64(0))
				}
			}
		}
	}
	return nil
}

// Overrides converts the wire form to the library's.
func (l *Limits) Overrides() sandbox.Overrides {
	if l == nil {
		return sandbox.Overrides{}
	}
	return sandbox.Overrides{
		Memory: int64(l.Memory), Pids: l.Pids, CPU: l.CPU,
		CPUTime: time.Duration(l.CPUTime), WallTime: time.Duration(l.WallTime),
		Output:   policy.OutputLimits{Stdout: int64(l.Output.Stdout), Stderr: int64(l.Output.Stderr), Total: int64(l.Output.Total)},
		FileSize: int64(l.FileSize), OpenFiles: l.OpenFiles, AddressSpace: int64(l.AddressSpace),
	}
}

// Size is a byte count: a JSON integer, or a string such as "256M" with a binary suffix.
type Size int64

// maxSize bounds every size (1 PiB), as policy files do, so nothing downstream overflows.
const maxSize = int64(1) << 50

func (s *Size) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := parseSize(str)
		if err != nil {
			return err
		}
		*s = Size(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("size must be an integer number of bytes or a string such as \"256M\"")
	}
	if n < 0 || n > maxSize {
		return fmt.Errorf("size %d is out of range", n)
	}
	*s = Size(n)
	return nil
}

// parseSize reads "4096", "256M", "64KiB". Decimal suffixes ("MB") are refused rather than guessed at, and
// fractions are not accepted here (policy files accept exact ones; a request has no need).
func parseSize(str string) (int64, error) {
	i := 0
	for i < len(str) && str[i] >= '0' && str[i] <= '9' {
		i++
	}
	if i == 0 || i > 16 {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with K, M, G, T, KiB, MiB, GiB or TiB)", str)
	}
	n, _ := strconv.ParseInt(str[:i], 10, 64)
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}
	sh, ok := shift[str[i:]]
	if !ok {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with K, M, G, T, KiB, MiB, GiB or TiB)", str)
	}
	if n > maxSize>>sh {
		return 0, fmt.Errorf("%q is too large (at most 1P)", str)
	}
	return n << sh, nil
}

// Duration is a JSON integer of milliseconds or a Go duration string ("1.5s").
type Duration time.Duration

// maxDuration bounds every duration (a year): nothing needs more, and it keeps arithmetic safe.
const maxDuration = 365 * 24 * time.Hour

func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		if strings.HasPrefix(str, "-") || strings.HasPrefix(str, "+") {
			return fmt.Errorf("%q is not a duration", str)
		}
		v, err := time.ParseDuration(str)
		if err != nil || v > maxDuration {
			return fmt.Errorf("%q is not a duration (want e.g. \"1.5s\", \"200ms\")", str)
		}
		*d = Duration(v)
		return nil
	}
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration must be an integer number of milliseconds or a string such as \"1.5s\"")
	}
	if ms < 0 || ms > int64(maxDuration/time.Millisecond) {
		return fmt.Errorf("duration %d ms is out of range", ms)
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
