package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/jailrun/jailrun/sandbox/service"
	"github.com/spf13/cobra"
)

// clientFlags hand the run to a `jailrun serve` (client mode): the server keeps sandboxes of its pooled
// policies prepared, so a caller that starts one jailrun per test case pays neither the policy
// compilation nor the sandbox construction.
type clientFlags struct {
	server   string
	fallback string
}

func addClientFlags(c *cobra.Command, f *clientFlags) {
	fl := c.Flags()
	fl.StringVar(&f.server, "server", os.Getenv("JAILRUN_SERVER"),
		"hand the run to the 'jailrun serve' on unix socket `PATH`, with stdin, stdout and stderr streamed (default $JAILRUN_SERVER; --server= runs here)")
	fl.StringVar(&f.fallback, "server-fallback", "none",
		"when no server answers on --server: `MODE` none (fail with exit 124) or local (run here instead)")
}

// clientOnlyLocal are the run flags client mode refuses, each with what to do instead: they configure a
// sandbox on this host, and the server builds the sandbox from its own policy. None is ever dropped
// quietly: a run that ignored --memory would report a verdict under limits nobody asked for.
var clientOnlyLocal = []struct{ flag, instead string }{
	{"channel", "give --server= to run here"},
	{"cgroup-parent", "the server's own applies; give --server= to run here"},
	{"id-map", "the server maps ids; give --server= to run here"},
	{"host-id-range", "the server allocates host ids; give --server= to run here"},
	{"audit", "the server records runs in the audit log it was started with (jailrun serve --audit); give --server= to run here"},
	{"audit-best-effort", "give --server= to run here"},
	{"audit-key-file", "give --server= to run here"},
	{"bind", "a path on this host means nothing to the server's policy; use a server policy with that mount, or give --server= to run here"},
	{"tmpfs", "use a server policy with that mount, or give --server= to run here"},
	{"env", "the server offers jailrun's environment to its policy's env allowlist: export the variable, if the policy allows it, or give --server= to run here"},
	{"chdir", "the policy's working directory applies; give --server= to run here"},
}

// clientOverrides turns the limit flags (--memory, --cpu-time, --wall-time, --pids) into the request's
// overrides, decoded and checked as a local run would (a bad value is exit 2 with the same message). The
// server applies them to its policy, where they may only tighten it (and the tenant's ceilings).
func clientOverrides(list []policy.Override) (*service.Limits, error) {
	if len(list) == 0 {
		return nil, nil
	}
	l := &service.Limits{}
	for _, o := range list {
		field, v, err := policy.LimitValue(o)
		if err != nil {
			var inv *policy.InvalidError
			if errors.As(err, &inv) {
				return nil, fail(exitUsage, "%v", err)
			}
			return nil, fail(exitInternal, "--%s in client mode: %v", o.Key, err)
		}
		switch field {
		case "memory":
			l.Memory = service.Size(v.(int64))
		case "pids":
			l.Pids = v.(int64)
		case "cpu_time":
			l.CPUTime = service.Duration(v.(time.Duration))
		case "wall_time":
			l.WallTime = service.Duration(v.(time.Duration))
		default:
			return nil, fail(exitInternal, "--%s cannot be sent to a server", o.Key)
		}
	}
	return l, nil
}

// runClient runs the command through the server's POST /v1/exec: same policy names (the server's tenant
// allowlist decides), same streams, same Result, same exit codes as a local run.
func runClient(ctx context.Context, f *runFlags, rest []string) (retErr error) {
	cf := &f.client
	if cf.fallback != "none" && cf.fallback != "local" {
		return fail(exitUsage, "--server-fallback %q: want none or local", cf.fallback)
	}
	for _, l := range clientOnlyLocal {
		if f.command.changed(l.flag) {
			return fail(exitUsage, "--%s cannot be used with --server (or $JAILRUN_SERVER): the server builds the sandbox; %s", l.flag, l.instead)
		}
	}
	overrides, err := clientOverrides(f.overrides.list)
	if err != nil {
		return err
	}
	copyIns, copyOuts, err := f.copy.parse()
	if err != nil {
		return err
	}
	argv, params, err := clientCommand(&f.command, rest)
	if err != nil {
		return err
	}
	meta, err := openMeta(f.metaFile, "--meta")
	if err != nil {
		return err
	}
	var res *sandbox.Result
	defer func() { retErr = meta.finish(res, retErr) }()
	if f.resultOut, err = openResult(f.resultFile); err != nil {
		return err
	}
	defer f.resultOut.discard()

	// Signals are caught before connecting: one that comes while the request waits in the server's queue
	// withdraws it; one during the run stops the run, whose verdict is then reported as a local run's.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: cf.server, Net: "unix"})
	if err != nil {
		why := err
		var se *os.SyscallError
		if errors.As(err, &se) {
			why = se
		}
		if cf.fallback == "local" {
			if !f.quiet {
				fmt.Fprintf(os.Stderr, "jailrun: warning: no server answers on %s (%v); running here (--server-fallback=local)\n", cf.server, why)
			}
			meta.discard() // the local run prepares its own, and its own result file
			meta = nil
			f.resultOut.discard()
			signal.Stop(sigs)
			local := *f
			local.client.server = ""
			return runCommand(ctx, &local, rest)
		}
		hint := fmt.Sprintf("start one (jailrun serve --socket %s --pool POLICY=N), or run here: without --server, or with --server-fallback=local", cf.server)
		if errors.Is(err, syscall.EACCES) {
			hint = "the socket's group (jailrun serve --socket-group) must include you, or run here without --server"
		}
		return fail(exitNoServer, "no jailrun server answers on %s: %v; %s", cf.server, why, hint)
	}
	defer conn.Close()

	c := &execClient{conn: conn, server: cf.server, rd: bufio.NewReaderSize(conn, 64<<10)}
	c.credit.cond.L = &c.credit.mu
	ereq := service.ExecRequest{Policy: f.policy, Argv: argv, Params: params, Env: clientEnv(os.Environ()), Overrides: overrides, TraceSetup: f.traceSetup}
	var files *clientFiles
	if len(copyIns) > 0 || len(copyOuts) > 0 {
		files = newClientFiles(cf.server)
		defer files.done()
		if ereq.FilesIn, err = files.in(copyIns); err != nil {
			return err
		}
		for _, o := range copyOuts {
			ereq.FilesOut = append(ereq.FilesOut, service.FileOutSpec{Path: o.inside, Cache: true})
		}
	}
	if err := f.resultOut.start(); err != nil {
		return err
	}
	hresp, sig, err := c.request(ereq, sigs)
	if sig != nil {
		return &childExit{code: 128 + int(sig.(syscall.Signal))}
	}
	if err != nil {
		return err
	}
	if hresp.StatusCode != http.StatusSwitchingProtocols {
		return c.refusal(hresp)
	}
	window, err := strconv.Atoi(hresp.Header.Get(service.ExecWindowHeader))
	if err != nil || window <= 0 {
		return fail(exitInternal, "server %s: the exec answer has no valid %s header", cf.server, service.ExecWindowHeader)
	}
	c.credit.n = window

	go c.pumpStdin()
	done := make(chan execEnd, 1)
	go c.readFrames(done)
	var got os.Signal
	var end execEnd
wait:
	for {
		select {
		case end = <-done:
			break wait
		case s := <-sigs:
			if got != nil {
				// A second signal: stop waiting for the verdict. The server kills the run when the
				// connection closes.
				conn.Close()
				return &childExit{code: 128 + int(got.(syscall.Signal))}
			}
			got = s
			_ = c.send(service.FrameSignal, service.Uint32Payload(uint32(s.(syscall.Signal))))
		}
	}
	c.stopCredit()
	if end.err != nil {
		if got != nil {
			return &childExit{code: 128 + int(got.(syscall.Signal))}
		}
		return fail(exitNoServer, "server %s: the connection broke before the run ended: %v", cf.server, end.err)
	}
	res = end.resp.Result
	runErr := end.resp.Error
	if res != nil && runErr == nil && got == nil && !f.quiet && notable(res.Status) {
		fmt.Fprintf(os.Stderr, "jailrun: %s: %s\n", res.Status, res.Message)
	}
	if files != nil && res != nil && runErr == nil {
		if err := files.out(copyOuts, end.resp.FilesOut); err != nil {
			return err
		}
	}
	if res != nil {
		if err := report(f, res); err != nil {
			return err
		}
	}
	if got != nil {
		return &childExit{code: 128 + int(got.(syscall.Signal))}
	}
	if runErr != nil {
		if runErr.Kind == service.KindNotFound && f.bareArgs && len(argv) > 0 {
			// As a local run: a name not found inside, given without "--", may be a mistyped subcommand.
			if sub := typoOf(rootCmd, argv[0]); sub != "" {
				return typoError(argv[0], sub)
			}
		}
		return c.apiError(runErr)
	}
	if res == nil {
		return fail(exitInternal, "server %s: the answer has neither a result nor an error", cf.server)
	}
	if res.Signal != 0 {
		return &childExit{code: 128 + res.Signal}
	}
	return &childExit{code: res.ExitCode}
}

// clientCommand is the command as the server takes it: parameters of the policy's template, or an argv.
// Which one the policy wants only the server knows; it refuses the other (exit 2, as a local run).
//
// The request is JSON text, which cannot carry bytes that are not UTF-8 (they would arrive as U+FFFD): such
// an argument is refused here, where a local run would pass it exactly.
func clientCommand(f *commandFlags, rest []string) ([]string, map[string]string, error) {
	if len(f.params) == 0 {
		argv, err := plainArgv(f, rest)
		if err != nil {
			return nil, nil, err
		}
		for i, a := range argv {
			if !utf8.ValidString(a) {
				return nil, nil, fail(exitUsage, "argument %d (%q) is not valid UTF-8, which client mode cannot send: the request is JSON text; run here (--server=) to pass these bytes", i, a)
			}
		}
		return argv, nil, nil
	}
	if f.changed("cmd") || f.changed("shell") || len(rest) > 0 {
		return nil, nil, fail(exitUsage, "--param and a command cannot be used together: a policy with a command template takes only its parameters")
	}
	params, err := parseParams(f.params)
	if err != nil {
		return nil, nil, err
	}
	for name, v := range params {
		if !utf8.ValidString(v) {
			return nil, nil, fail(exitUsage, "parameter %q: %q is not valid UTF-8", name, v)
		}
	}
	return nil, params, nil
}

// clientEnv is the environment offered to the server's policy: all of jailrun's, less the variables that
// are not UTF-8 (JSON text cannot carry them), each named in a warning.
func clientEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if utf8.ValidString(kv) {
			out = append(out, kv)
			continue
		}
		name, _, _ := strings.Cut(kv, "=")
		fmt.Fprintf(os.Stderr, "jailrun: warning: $%q is not valid UTF-8 and is not sent to the server\n", name)
	}
	return out
}

// execClient is the client's end of one POST /v1/exec.
type execClient struct {
	conn   *net.UnixConn
	server string
	rd     *bufio.Reader
	wmu    sync.Mutex
	credit struct {
		mu      sync.Mutex
		cond    sync.Cond
		n       int
		stopped bool
	}
}

type execEnd struct {
	resp *service.ExecResponse
	err  error
}

// request sends the POST and waits for the answer's head, or for a signal, which withdraws the request
// (the server drops a request whose client hung up while it was queued).
func (c *execClient) request(req service.ExecRequest, sigs <-chan os.Signal) (*http.Response, os.Signal, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, fail(exitInternal, "encode the request: %v", err)
	}
	head := fmt.Sprintf("POST /%s/exec HTTP/1.1\r\nHost: jailrun\r\nConnection: Upgrade\r\nUpgrade: %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", service.APIVersion, service.ExecProtocol, len(body))
	if _, err := (&net.Buffers{[]byte(head), body}).WriteTo(c.conn); err != nil {
		return nil, nil, fail(exitNoServer, "server %s: sending the request: %v", c.server, err)
	}
	type answer struct {
		resp *http.Response
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		r, err := http.ReadResponse(c.rd, nil)
		ch <- answer{r, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, nil, fail(exitNoServer, "server %s: no answer: %v", c.server, a.err)
		}
		return a.resp, nil, nil
	case s := <-sigs:
		c.conn.Close()
		return nil, s, nil
	}
}

// refusal turns an answer other than 101 into the CLI's error and exit code.
func (c *execClient) refusal(hresp *http.Response) error {
	defer hresp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(hresp.Body, 1<<20))
	var er service.ExecResponse
	if err := json.Unmarshal(b, &er); err != nil || er.Error == nil {
		return fail(exitInternal, "server %s answered %s: %.200q", c.server, hresp.Status, b)
	}
	if ra := hresp.Header.Get("Retry-After"); ra != "" {
		er.Error.Message += fmt.Sprintf(" (retry after %s s)", ra)
	}
	return c.apiError(er.Error)
}

// apiError maps the service's error kinds to the exit codes a local run has for the same failure, and to
// exitRefused and exitNoServer for what only a server can answer.
func (c *execClient) apiError(e *service.APIError) error {
	switch e.Kind {
	case service.KindUnauthenticated, service.KindForbidden:
		return fail(exitRefused, "server %s refused the run: %s", c.server, e.Message)
	case service.KindQuota, service.KindQueueFull, service.KindShuttingDown:
		return fail(exitNoServer, "server %s cannot take the run now: %s", c.server, e.Message)
	case service.KindBadRequest, service.KindTooLarge, service.KindArgument:
		return fail(exitUsage, "%s", e.Message)
	case service.KindPolicy:
		return fail(exitPolicy, "%s", e.Message)
	case service.KindNotFound:
		return fail(exitNotFound, "%s", e.Message)
	case service.KindCannotExec:
		return fail(exitCannotExec, "%s", e.Message)
	case service.KindUnsupported:
		return fail(exitUnsupported, "%s", e.Message)
	}
	return fail(exitInternal, "%s", e.Message)
}

func (c *execClient) send(typ byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return service.WriteFrame(c.conn, typ, p)
}

// pumpStdin sends stdin as the server's window allows: never more than the window is in flight, so
// neither side holds more than that of a large input however slowly the command reads it.
func (c *execClient) pumpStdin() {
	buf := make([]byte, 32<<10)
	for {
		n := c.take(len(buf))
		if n == 0 {
			return
		}
		m, err := os.Stdin.Read(buf[:n])
		c.give(n - m)
		if m > 0 {
			if c.send(service.FrameStdin, buf[:m]) != nil {
				return
			}
		}
		if err != nil {
			// EOF, or a stdin that cannot be read (closed, a directory): the command sees its end.
			_ = c.send(service.FrameStdinClose, nil)
			return
		}
	}
}

// take waits for window and reserves up to max bytes of it; 0 once the exchange is over.
func (c *execClient) take(max int) int {
	cr := &c.credit
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for cr.n == 0 && !cr.stopped {
		cr.cond.Wait()
	}
	if cr.stopped {
		return 0
	}
	n := min(max, cr.n)
	cr.n -= n
	return n
}

func (c *execClient) give(n int) {
	if n <= 0 {
		return
	}
	cr := &c.credit
	cr.mu.Lock()
	cr.n += n
	cr.cond.Broadcast()
	cr.mu.Unlock()
}

func (c *execClient) stopCredit() {
	cr := &c.credit
	cr.mu.Lock()
	cr.stopped = true
	cr.cond.Broadcast()
	cr.mu.Unlock()
}

// readFrames writes the command's output as it comes and ends with the server's result. A stream whose
// reader went away (EPIPE) is reported to the server, which then closes the command's end, as a local
// run does: the command gets its SIGPIPE.
func (c *execClient) readFrames(done chan<- execEnd) {
	buf := make([]byte, 64<<10)
	var gone [2]bool
	for {
		typ, p, err := service.ReadFrame(c.rd, buf)
		if err != nil {
			done <- execEnd{err: err}
			return
		}
		if cap(p) > cap(buf) {
			buf = p[:cap(p)]
		}
		switch typ {
		case service.FrameStdout, service.FrameStderr:
			i, w := 0, os.Stdout
			if typ == service.FrameStderr {
				i, w = 1, os.Stderr
			}
			if gone[i] {
				continue
			}
			if _, err := w.Write(p); err != nil {
				gone[i] = true
				_ = c.send(service.FrameOutClosed, []byte{byte(i + 1)})
			}
		case service.FrameWindow:
			n, err := service.PayloadUint32(p)
			if err != nil {
				done <- execEnd{err: err}
				return
			}
			c.give(int(n))
		case service.FrameResult:
			var er service.ExecResponse
			if err := json.Unmarshal(p, &er); err != nil {
				done <- execEnd{err: fmt.Errorf("the result is not JSON: %w", err)}
				return
			}
			done <- execEnd{resp: &er}
			return
		default:
			done <- execEnd{err: fmt.Errorf("%w: unknown frame type %q", service.ErrFrame, typ)}
			return
		}
	}
}
