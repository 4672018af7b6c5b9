package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// MetaLine is one "key:value" line of an isolate-compatible meta file.
type MetaLine struct {
	Key, Value string
}

// Signal numbers the meta file needs on every platform the package builds for (Linux numbering, the
// same on amd64 and arm64).
const (
	metaSIGKILL = 9
	metaSIGSYS  = 31
)

// Meta returns the run as the lines of an isolate meta file (isolate -M, see docs/isolate-meta.md): the
// keys isolate writes, in the order it writes them after a normal exit, with the values in isolate's
// units (seconds with three decimals, kilobytes). As in isolate, a run that ended ok has no status line,
// and a setup error has only status:XX and the message. A nil Result has no lines.
func (r *Result) Meta() []MetaLine {
	if r == nil {
		return nil
	}
	var m []MetaLine
	add := func(k, v string) { m = append(m, MetaLine{k, v}) }
	if r.Status == StatusSetupError {
		add("status", "XX")
		add("message", metaMessage(r.Message, "setup error"))
		return m
	}
	add("time", metaSeconds(r.CPUTimeMS.TotalMS))
	add("time-wall", metaSeconds(r.WallTimeMS))
	add("max-rss", strconv.FormatInt(r.MaxRSSBytes>>10, 10))
	add("csw-voluntary", strconv.FormatInt(r.VoluntaryCSW, 10))
	add("csw-forced", strconv.FormatInt(r.ForcedCSW, 10))
	// cg-mem comes only from a cgroup's peak counter, as in isolate; no cgroup, no line.
	if r.PeakMemoryBytes > 0 && r.PeakMemorySrc != "" {
		add("cg-mem", strconv.FormatInt(r.PeakMemoryBytes>>10, 10))
	}
	// isolate writes cg-oom-killed when memory.events counts an OOM kill; jailrun also when its verdict is
	// memory_limit (the limit was reached and the command then failed), so that readers that take this key
	// as "memory limit exceeded" agree with the verdict.
	if r.OOMKills > 0 || r.Status == StatusMemoryLimit {
		add("cg-oom-killed", "1")
	}

	status, msg := "", ""
	switch r.Status {
	case StatusOK:
		// No status line: isolate's success.
		add("exitcode", strconv.Itoa(r.ExitCode))
	case StatusTimeLimit:
		// isolate's exact wording: readers tell CPU from wall by "wall" in the message.
		status, msg = "TO", "Time limit exceeded"
	case StatusWallTimeLimit:
		status, msg = "TO", "Time limit exceeded (wall clock)"
	case StatusSeccompViolation:
		// Whether the kernel's filter (SIGSYS) or jailrun's supervisor (SIGKILL) ended it, report what a
		// killing filter does: death by SIGSYS.
		add("exitsig", strconv.Itoa(metaSIGSYS))
		status, msg = "SG", metaMessage(r.Message, "killed by the seccomp filter")
		if v := r.Violation; v != nil && v.Syscall != "" && !strings.Contains(msg, v.Syscall) {
			msg += " (syscall " + v.Syscall + ")"
		}
	default:
		switch {
		case r.Signal != 0:
			add("exitsig", strconv.Itoa(r.Signal))
			status = "SG"
		case r.ExitCode >= 0:
			add("exitcode", strconv.Itoa(r.ExitCode))
			status = "RE"
			if r.ExitCode == 0 {
				// A non-ok verdict on a zero exit (another process of the sandbox was OOM-killed): never
				// let the meta file say success when the result does not.
				status = "SG"
			}
		default:
			status = "SG"
		}
		switch r.Status {
		case StatusNonzeroExit:
			msg = fmt.Sprintf("Exited with error status %d", r.ExitCode)
		case StatusSignaled:
			msg = fmt.Sprintf("Caught fatal signal %d", r.Signal)
		default:
			msg = metaMessage(r.Message, limitMessage(r))
		}
	}
	if killedBySandbox(r) {
		add("killed", "1")
	}
	if status != "" {
		add("status", status)
		add("message", msg)
	}
	return m
}

// killedBySandbox says whether jailrun itself ended the command for a limit (isolate's killed:1): the time
// limits always, the output limit when jailrun killed it (not the kernel's SIGXFSZ).
func killedBySandbox(r *Result) bool {
	switch r.Status {
	case StatusTimeLimit, StatusWallTimeLimit:
		// Not when the command ended by itself within limits.extra_time: it was over, but not killed.
		return r.Signal == metaSIGKILL
	case StatusOutputLimit:
		return r.Signal == metaSIGKILL
	}
	return false
}

func limitMessage(r *Result) string {
	if r.Limit != nil {
		return fmt.Sprintf("%s exceeded (%s)", r.Limit.Name, r.Limit.Value)
	}
	return string(r.Status)
}

// WriteMeta writes the lines of Meta as "key:value\n".
func (r *Result) WriteMeta(w io.Writer) error {
	var b bytes.Buffer
	for _, l := range r.Meta() {
		b.WriteString(l.Key)
		b.WriteByte(':')
		b.WriteString(l.Value)
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// MetaText is the meta file as a string ("" for a nil Result), as the service sends it.
func (r *Result) MetaText() string {
	var b strings.Builder
	_ = r.WriteMeta(&b)
	return b.String()
}

// metaSeconds formats milliseconds as isolate does: whole milliseconds (truncated) as seconds with three
// decimals.
func metaSeconds(msec float64) string {
	if msec < 0 || math.IsNaN(msec) {
		msec = 0
	}
	// Round to microseconds first so that 12.345 stored as 12.34499... still truncates to 12 ms.
	us := int64(math.Round(msec * 1000))
	whole := us / 1000
	return fmt.Sprintf("%d.%03d", whole/1000, whole%1000)
}

// metaMessage makes msg one line (a newline would start a new key), or def when it is empty.
func metaMessage(msg, def string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		return def
	}
	return msg
}
