package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/jailrun/jailrun/sandbox/service"
	"github.com/spf13/cobra"
)

type serveFlags struct {
	socket        string
	socketMode    string
	socketGroup   string
	tcp           string
	allowRemote   bool
	config        string
	maxConcurrent int
	maxQueue      int
	grace         time.Duration
	accessLog     bool
	pools         []string
	audit         auditFlags
}

func addServeCmd() {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP+JSON API on a unix socket (and optionally loopback TCP)",
		Long: `Serve jailrun's HTTP+JSON API: POST /v1/run runs a command under one of the caller's allowed policies
and answers with the same result object as 'jailrun --json'. GET /healthz and GET /metrics (Prometheus
text format) are for supervisors. See docs/service.md.

Callers are tenants from --config: identified by their unix-socket peer uid/gid or a bearer token, each
with a policy allowlist, a concurrency quota and a queue (over quota: 429 with Retry-After; global queue
full: 503). Requests may only tighten a policy. Without --config, only the server's own uid may call, with
every built-in policy.

SIGTERM or SIGINT stops accepting, refuses queued requests, lets running ones finish for --shutdown-grace,
then kills what is left; every sandbox is cleaned up before jailrun exits. A second signal skips the grace.`,
		Example: `  jailrun serve
  jailrun serve --socket /run/jailrun.sock --socket-group graders --config /etc/jailrun/serve.json
  jailrun serve --tcp 127.0.0.1:8070 --config /etc/jailrun/serve.json --max-queue 512`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return serve(c, &f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.socket, "socket", "/run/jailrun.sock", "unix socket `PATH` to serve on (\"\" for none)")
	fl.StringVar(&f.socketMode, "socket-mode", "0660", "permission bits of the socket (octal)")
	fl.StringVar(&f.socketGroup, "socket-group", "", "group `NAME` or id owning the socket, so its members may connect")
	fl.StringVar(&f.tcp, "tcp", "", "also serve on TCP `ADDR` (loopback only; callers need bearer tokens)")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "let --tcp listen beyond loopback (plain HTTP: only behind a network you trust)")
	fl.StringVar(&f.config, "config", "", "tenant configuration `FILE` (JSON; see docs/service.md)")
	fl.IntVar(&f.maxConcurrent, "max-concurrent", 0, "runs executing at once across tenants (default: config, else the number of CPUs)")
	fl.IntVar(&f.maxQueue, "max-queue", 0, "requests waiting across tenants before 503 (default: config, else 256)")
	fl.DurationVar(&f.grace, "shutdown-grace", 10*time.Second, "how long running requests may finish after SIGTERM before they are killed")
	fl.BoolVar(&f.accessLog, "access-log", false, "log one line per run request to stderr")
	addHostIDsFlag(fl)
	fl.StringArrayVar(&f.pools, "pool", nil, "keep `POLICY=N` sandboxes of a policy (built-in name or file) prepared ahead of requests; each is used once (repeatable)")
	addAuditFlags(c, &f.audit)
	rootCmd.AddCommand(c)
}

func serve(c *cobra.Command, f *serveFlags) error {
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "jailrun: "+format+"\n", a...) }
	mode, err := strconv.ParseUint(f.socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return fail(exitUsage, "--socket-mode %q: want octal permission bits such as 0660", f.socketMode)
	}
	if mode&0o007 != 0 {
		logf("warning: --socket-mode %04o lets every local user connect; they are still refused unless they are tenants", mode)
	}
	gid := -1
	if f.socketGroup != "" {
		if gid, err = lookupGroup(f.socketGroup); err != nil {
			return fail(exitUsage, "--socket-group: %v", err)
		}
	}
	if f.socket == "" && f.tcp == "" {
		return fail(exitUsage, "nothing to serve on: give --socket or --tcp")
	}

	var cfg *service.Config
	if f.config != "" {
		if cfg, err = service.LoadConfig(f.config); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return fail(exitInput, "%v", err) // cannot be read: 122, as an unreadable policy file
			}
			return fail(exitPolicy, "%v", err)
		}
	} else {
		cfg = service.DefaultConfig(policy.BuiltinNames())
	}
	if c.Flags().Changed("max-concurrent") {
		if f.maxConcurrent < 1 {
			return fail(exitUsage, "--max-concurrent must be at least 1")
		}
		cfg.MaxConcurrent = f.maxConcurrent
	}
	if c.Flags().Changed("max-queue") {
		if f.maxQueue < 0 {
			return fail(exitUsage, "--max-queue must not be negative")
		}
		cfg.MaxQueue = &f.maxQueue
	}
	if f.tcp != "" && !hasTokens(cfg) {
		return fail(exitUsage, "--tcp needs tenants with tokens in --config: TCP callers have no peer credentials")
	}

	ids, err := parseHostIDs()
	if err != nil {
		return err
	}
	runner, err := sandbox.NewRunner(sandbox.Options{
		CgroupParent: os.Getenv("JAILRUN_CGROUP_PARENT"),
		IDMapping:    envIDMapping(),
		HostIDs:      ids,
		Logf:         func(format string, a ...any) { logf("warning: "+format, a...) },
	})
	if err != nil {
		return mapRunError(err)
	}
	pr := &pooledRunner{Runner: runner, Pools: sandbox.NewPools(runner)}
	defer pr.Close()
	for _, spec := range f.pools {
		name, n, ok := strings.Cut(spec, "=")
		size, err := strconv.Atoi(n)
		if !ok || err != nil || size < 1 {
			return fail(exitUsage, "--pool %q: want POLICY=N with N at least 1", spec)
		}
		pol, err := loadPolicy(name) // 122 when it cannot be read, 120 when invalid, as for a run
		if err != nil {
			return err
		}
		p, err := runner.NewPool(pol, sandbox.PoolOptions{Size: size})
		if err != nil {
			return mapRunError(err)
		}
		pr.Add(p)
	}
	// Every run of every endpoint is recorded, as jailrun run --audit records its run (docs/audit.md).
	lg, err := f.audit.open()
	if err != nil {
		return err
	}
	defer lg.Close()
	srv, err := service.New(service.Options{Runner: pr, Config: cfg, Logf: logf, AccessLog: f.accessLog, Audit: lg,
		// Interactive runs are two cold sandboxes: the pools serve single runs.
		Interact: func(ctx context.Context, a, b sandbox.Request, o sandbox.InteractOptions) (*sandbox.InteractResult, error) {
			return sandbox.Interact(ctx, runner, a, b, o)
		}})
	if err != nil {
		switch {
		case errors.Is(err, policy.ErrRead):
			return &exitError{code: exitInput, err: err}
		default:
			return &exitError{code: exitPolicy, err: err}
		}
	}

	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	if f.socket != "" {
		l, err := service.ListenUnix(f.socket, os.FileMode(mode), gid)
		if err != nil {
			return fail(exitInternal, "%v", err)
		}
		listeners = append(listeners, l)
	}
	if f.tcp != "" {
		l, err := service.ListenTCP(f.tcp, f.allowRemote)
		if err != nil {
			closeAll()
			return fail(exitInternal, "%v", err)
		}
		listeners = append(listeners, l)
	}

	// Signals are caught before serving, so a SIGTERM that arrives during startup still drains cleanly.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	serveErr := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil {
				serveErr <- fmt.Errorf("serving %s: %w", l.Addr(), err)
			}
		}()
		logf("serving on %s:%s", l.Addr().Network(), l.Addr())
	}
	sdNotify("READY=1")

	var runErr error
	select {
	case sig := <-sigs:
		logf("%v: draining (grace %v)", sig, f.grace)
	case runErr = <-serveErr:
		logf("%v; shutting down", runErr)
	}
	sdNotify("STOPPING=1")
	ctx, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	go func() {
		// A second signal ends the grace period at once.
		if sig, ok := <-sigs; ok {
			logf("%v: canceling running requests now", sig)
			cancel()
		}
	}()
	err = srv.Shutdown(ctx)
	wg.Wait()
	switch {
	case err == nil:
		logf("stopped: every run finished")
	case errors.Is(err, service.ErrRunsCanceled):
		logf("stopped: %v", err)
	default:
		// Runs that would not end: their sandboxes die with this process (parent-death signal), and the
		// next jailrun's cgroup janitor removes what they leave.
		return fail(exitInternal, "shutdown: %v", err)
	}
	// Every run has returned, so every sandbox is gone: release what the runner set up on the host.
	if cerr := runner.Close(); cerr != nil {
		logf("warning: %v", cerr)
	}
	if runErr != nil {
		return fail(exitInternal, "%v", runErr)
	}
	return nil
}

func hasTokens(c *service.Config) bool {
	for _, t := range c.Tenants {
		if t.TokenSHA256 != "" {
			return true
		}
	}
	return false
}

func lookupGroup(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		return id, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// sdNotify tells systemd (Type=notify) about readiness and shutdown. Without $NOTIFY_SOCKET it does nothing.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

// pooledRunner is the service's runner: runs go through the warm pools (sandbox.Pools), and the
// service's metrics read their size.
type pooledRunner struct {
	*sandbox.Runner
	*sandbox.Pools
}

// Run routes to the pools (the embedded Runner's Run would bypass them).
func (p *pooledRunner) Run(ctx context.Context, req sandbox.Request) (*sandbox.Result, error) {
	return p.Pools.Run(ctx, req)
}

// PoolSize is the number of prepared sandboxes waiting now (the jailrun_pool_size gauge).
func (p *pooledRunner) PoolSize() int { return p.Ready() }

// Close closes the pools; the Runner is closed by its own defer.
func (p *pooledRunner) Close() { p.Pools.Close() }
