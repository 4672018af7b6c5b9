package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/isolate"
	"github.com/jailrun/jailrun/namespaces"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// Box layout and ids, as isolate's default.cf: boxes under one root, box N at <root>/N/box, its sandbox
// user a host uid/gid of its own (first + N) so that two boxes never share an owner.
const (
	isoDefaultRoot     = "/var/local/lib/jailrun-isolate"
	isoDefaultFirstUID = 60000
	isoDefaultNumBoxes = 1000
)

type isoConfig struct {
	root       string
	firstID    int
	numBoxes   int
	boxID      int
	parent     string // <root>/<id>: what --init prints
	boxDir     string // <root>/<id>/box
	lockPath   string // <root>/<id>.lock
	uid, gid   uint32 // the box's sandbox user on the host
	root0      bool   // jailrun runs as root: boxes are chowned to their own ids
	callerUID  int
	callerGID  int
	verbose    int
	silent     bool
	specialsOK bool
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("$%s=%q: want a non-negative number", name, v)
	}
	return n, nil
}

func isolateConfig(o *isolate.Options) (*isoConfig, error) {
	c := &isoConfig{root: o.BoxRoot, boxID: o.BoxID, verbose: o.Verbose, silent: o.Silent, specialsOK: o.SpecialFiles}
	if c.root == "" {
		c.root = os.Getenv("JAILRUN_ISOLATE_ROOT")
	}
	if c.root == "" {
		c.root = isoDefaultRoot
	}
	if !filepath.IsAbs(c.root) {
		return nil, fmt.Errorf("box root %q must be an absolute path", c.root)
	}
	var err error
	if c.firstID, err = envInt("JAILRUN_ISOLATE_FIRST_UID", isoDefaultFirstUID); err != nil {
		return nil, err
	}
	if c.numBoxes, err = envInt("JAILRUN_ISOLATE_NUM_BOXES", isoDefaultNumBoxes); err != nil {
		return nil, err
	}
	if c.boxID >= c.numBoxes {
		//lint:ignore ST1005 isolate's own wording, which scripts written for isolate may match
		return nil, fmt.Errorf("Sandbox ID out of range (allowed: 0-%d; raise $JAILRUN_ISOLATE_NUM_BOXES)", c.numBoxes-1)
	}
	// The box ids must stay clear of root, of 65534 (the id every other jailrun run maps to) and of the range
	// root jailrun runs allocate their ids from: a box sharing a uid with anything else could reach its files.
	first, last := c.firstID, c.firstID+c.numBoxes-1
	if first == 0 || (first <= 65534 && 65534 <= last) || last >= 1<<31 || overlaps(first, last, int(sandbox.DefaultHostIDs.Start), int(sandbox.DefaultHostIDs.End)) {
		sug := suggestFirstUID(c.numBoxes)
		return nil, fmt.Errorf("box uids %d-%d must not include 0, 65534 or jailrun's run ids %d-%d: set $JAILRUN_ISOLATE_FIRST_UID=%d (box uids %d-%d, in no /etc/subuid or /etc/subgid range), or lower $JAILRUN_ISOLATE_NUM_BOXES",
			first, last, sandbox.DefaultHostIDs.Start, sandbox.DefaultHostIDs.End, sug, sug, sug+c.numBoxes-1)
	}
	c.uid, c.gid = uint32(first+c.boxID), uint32(first+c.boxID)
	c.root0 = os.Geteuid() == 0
	// As root the box's program runs as its box uid on the host: one that a host user, group or subordinate
	// range has would let that user signal or trace the program and share its budgets, and the box would
	// be chowned to it. (Without root the caller's own ids are used.)
	if err := sandbox.CheckHostIDRange(sandbox.IDRange{Start: uint32(first), End: uint32(last)}); c.root0 && err != nil {
		sug := suggestFirstUID(c.numBoxes)
		return nil, fmt.Errorf("box uids %d-%d: %w: set $JAILRUN_ISOLATE_FIRST_UID=%d (box uids %d-%d), or lower $JAILRUN_ISOLATE_NUM_BOXES",
			first, last, err, sug, sug, sug+c.numBoxes-1)
	}
	c.callerUID, c.callerGID = os.Getuid(), os.Getgid()
	c.parent = filepath.Join(c.root, strconv.Itoa(c.boxID))
	c.boxDir = filepath.Join(c.parent, "box")
	c.lockPath = c.parent + ".lock"
	return c, nil
}

func overlaps(lo1, hi1, lo2, hi2 int) bool { return lo1 <= hi2 && lo2 <= hi1 }

// suggestFirstUID finds the lowest first box uid above 65534 whose n ids overlap no host user or group, no
// subordinate id range (/etc/subuid, /etc/subgid: another user's user namespaces could own them) and not
// jailrun's own run ids, for the message that refuses a range.
func suggestFirstUID(n int) int {
	var taken [][2]int
	for _, f := range []string{namespaces.SubUIDFile, namespaces.SubGIDFile} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			p := strings.Split(strings.TrimSpace(line), ":")
			if len(p) != 3 || strings.HasPrefix(p[0], "#") {
				continue
			}
			start, err1 := strconv.Atoi(p[1])
			count, err2 := strconv.Atoi(p[2])
			if err1 == nil && err2 == nil && count > 0 {
				taken = append(taken, [2]int{start, start + count - 1})
			}
		}
	}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if p := strings.Split(line, ":"); len(p) >= 3 {
				if id, err := strconv.Atoi(p[2]); err == nil {
					taken = append(taken, [2]int{id, id})
				}
			}
		}
	}
	taken = append(taken, [2]int{int(sandbox.DefaultHostIDs.Start), int(sandbox.DefaultHostIDs.End)})
	first := 65535
	for moved := true; moved; {
		moved = false
		for _, r := range taken {
			if overlaps(first, first+n-1, r[0], r[1]) {
				first, moved = r[1]+1, true
			}
		}
	}
	return first
}

func (c *isoConfig) msg(format string, a ...any) {
	if c.verbose > 0 {
		fmt.Fprintf(os.Stderr, format+"\n", a...)
	}
}

// isolateMain runs one isolate command line and returns isolate's exit code.
func isolateMain(args []string) int {
	o, err := isolate.Parse(args)
	if err != nil {
		return isoUsage(err)
	}
	if o.Help {
		fmt.Print(isolate.Usage)
		return isoExitOK
	}
	if o.PrintCGRoot {
		return isoDie(nil, "%v", o.Refused())
	}
	if o.Mode == isolate.ModeVersion {
		fmt.Println("The process isolator, as emulated by jailrun (isolate 2.x command line, meta file and exit codes)")
		fmt.Println("Box root: " + firstNonEmpty(o.BoxRoot, os.Getenv("JAILRUN_ISOLATE_ROOT"), isoDefaultRoot))
		return isoExitOK
	}
	// As isolate, the meta file is opened first, so that every later failure is reported in it.
	var meta *metaFile
	if o.Mode == isolate.ModeRun && o.Meta == "-" {
		// isolate's meta_open: "-" is stdout. A copy of the descriptor, so that closing the meta file
		// (metaFile.finish) leaves stdout open.
		fd, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return isoDie(nil, "--meta: stdout: %v", err)
		}
		meta = stdoutMeta("--meta", os.NewFile(uintptr(fd), "stdout"))
	} else if o.Mode == isolate.ModeRun && o.Meta != "" {
		if meta, err = openMeta(o.Meta, "--meta"); err != nil {
			return isoDie(nil, "%v", err)
		}
	}
	c, err := isolateConfig(o)
	if err != nil {
		return isoDie(meta, "%v", err)
	}
	if err := o.Refused(); err != nil {
		return isoDie(meta, "%v", err)
	}
	switch o.Mode {
	case isolate.ModeInit:
		return isoInit(c, o)
	case isolate.ModeCleanup:
		return isoCleanup(c, o)
	}
	return isoRun(c, o, meta)
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// isoDie reports a failure of the sandbox itself as isolate's die() does: the message on stderr, status:XX
// in the meta file, exit 2.
func isoDie(meta *metaFile, format string, a ...any) int {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(os.Stderr, msg)
	if meta != nil {
		_ = meta.finish(nil, errors.New(msg))
	}
	return isoExitError
}

// errNoBox: the box's lock file does not exist, so the box was never initialised (or was cleaned up).
var errNoBox = errors.New("no such box")

// lockBox takes the box's lock: one isolate command per box at a time, as in isolate. Without wait a busy
// box is refused. As in isolate, only --init creates the lock file (create); any other command on a box
// without one gets errNoBox and leaves nothing behind. The lock file is removed by --cleanup under the lock,
// so a waiter re-checks that the file it locked is still the one at the path.
func lockBox(c *isoConfig, wait, create bool) (*os.File, error) {
	flags := os.O_RDWR | syscall.O_NOFOLLOW
	if create {
		if err := os.MkdirAll(c.root, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the box root: %w", err)
		}
		flags |= os.O_CREATE
	}
	for {
		f, err := os.OpenFile(c.lockPath, flags, 0o600)
		if errors.Is(err, fs.ErrNotExist) && !create {
			return nil, errNoBox
		}
		if err != nil {
			return nil, fmt.Errorf("cannot open the box lock: %w", err)
		}
		how := unix.LOCK_EX
		if !wait {
			how |= unix.LOCK_NB
		}
		if err := unix.Flock(int(f.Fd()), how); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				//lint:ignore ST1005 isolate's own wording, which scripts written for isolate may match
				return nil, fmt.Errorf("Box %d is currently in use by another process (use --wait to wait for it)", c.boxID)
			}
			return nil, fmt.Errorf("cannot lock the box: %w", err)
		}
		fst, err1 := f.Stat()
		pst, err2 := os.Lstat(c.lockPath)
		if err1 == nil && err2 == nil && os.SameFile(fst, pst) {
			return f, nil
		}
		f.Close()
	}
}

func isoInit(c *isoConfig, o *isolate.Options) int {
	lock, err := lockBox(c, o.Wait, true)
	if err != nil {
		return isoDie(nil, "%v", err)
	}
	defer lock.Close()
	c.msg("Preparing sandbox directory")
	if err := os.Mkdir(c.parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return isoDie(nil, "Cannot create %s: %v", c.parent, err)
	}
	if st, err := os.Lstat(c.parent); err != nil || !st.IsDir() {
		return isoDie(nil, "%s is not a directory", c.parent)
	}
	// isolate 2.x resets a box that already exists.
	if err := os.RemoveAll(c.boxDir); err != nil {
		return isoDie(nil, "Cannot reset the box: %v", err)
	}
	if err := os.Mkdir(c.boxDir, 0o700); err != nil {
		return isoDie(nil, "Cannot create box: %v", err)
	}
	if err := os.Chown(c.boxDir, c.callerUID, c.callerGID); err != nil {
		return isoDie(nil, "Cannot chown box: %v", err)
	}
	fmt.Println(c.parent)
	return isoExitOK
}

func isoCleanup(c *isoConfig, o *isolate.Options) int {
	lock, err := lockBox(c, o.Wait, false)
	if errors.Is(err, errNoBox) {
		if _, err := os.Lstat(c.parent); errors.Is(err, fs.ErrNotExist) {
			c.msg("Nothing to do -- box directory did not exist")
			return isoExitOK
		}
		// A box directory without its lock (left by an interrupted --init or --cleanup): lock it as --init
		// would, so that no command runs in it meanwhile, then remove both.
		lock, err = lockBox(c, o.Wait, true)
	}
	if err != nil {
		return isoDie(nil, "%v", err)
	}
	defer lock.Close()
	if _, err := os.Lstat(c.parent); errors.Is(err, fs.ErrNotExist) {
		c.msg("Nothing to do -- box directory did not exist")
	} else {
		c.msg("Deleting sandbox directory")
		// RemoveAll never follows a symlink the box's program may have left.
		if err := os.RemoveAll(c.parent); err != nil {
			return isoDie(nil, "Cannot remove %s: %v", c.parent, err)
		}
	}
	if err := os.Remove(c.lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return isoDie(nil, "Cannot remove %s: %v", c.lockPath, err)
	}
	return isoExitOK
}

// fixBox walks the box without following symlinks (isolate's chowntree): it gives every file to uid/gid
// when chown, and unless keepSpecial removes everything that is neither a regular file nor a directory
// (symlinks, FIFOs, sockets, devices), as isolate's chowntree_helper does after a run. A symlink the program
// left would otherwise be followed by the grader reading the box afterwards (out.txt -> /etc/shadow, read
// by a root grader), and a FIFO would block it.
func fixBox(dir string, chown bool, uid, gid int, keepSpecial bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !keepSpecial && !d.Type().IsRegular() && !d.IsDir() {
			return os.Remove(p)
		}
		if chown {
			return os.Lchown(p, uid, gid)
		}
		return nil
	})
}

// isoOpen opens a --stdin/--stdout/--stderr file where isolate opens it, inside the sandbox's view: the
// path is resolved beneath the host directory of its bind mount without following any symlink the box's
// program may have planted (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), and must be a regular file. An
// output file is created as isolate creates it (0644 after its umask) and owned by the box's user.
func isoOpen(s *policy.Settings, inner string, write bool, uid, gid int, chown bool) (*os.File, error) {
	if inner == "/dev/null" {
		return isoDevNull(write)
	}
	dir, rel, err := isolate.HostFile(s, inner, write)
	if err != nil {
		return nil, err
	}
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open(\"%s\"): %w", inner, err)
	}
	defer unix.Close(dfd)
	flags, mode := unix.O_RDONLY, uint64(0)
	if write {
		flags, mode = unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC), Mode: mode,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV}
	fd, err := unix.Openat2(dfd, rel, &how)
	if err != nil {
		return nil, fmt.Errorf("open(\"%s\"): %w", inner, err)
	}
	f := os.NewFile(uintptr(fd), inner)
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open(\"%s\"): not a regular file", inner)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, err
	}
	if write && chown {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// isoDevNull opens the host's /dev/null for -i/-o/-r /dev/null, which graders use to discard a stream (isolate
// opens the sandbox's /dev/null, the same device). It must be the null device itself, not whatever a
// compromised host put at the path.
func isoDevNull(write bool) (*os.File, error) {
	flags := os.O_RDONLY
	if write {
		flags = os.O_WRONLY
	}
	f, err := os.OpenFile("/dev/null", flags|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open(\"/dev/null\"): %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, errors.New("open(\"/dev/null\"): not the null device")
	}
	return f, nil
}

func isoRun(c *isoConfig, o *isolate.Options, meta *metaFile) (code int) {
	lock, err := lockBox(c, o.Wait, false)
	if errors.Is(err, errNoBox) {
		return isoDie(meta, "Box directory not found, did you run `isolate --init'?")
	}
	if err != nil {
		return isoDie(meta, "%v", err)
	}
	defer lock.Close()
	if st, err := os.Lstat(c.boxDir); err != nil || !st.IsDir() {
		return isoDie(meta, "Box directory not found, did you run `isolate --init'?")
	}
	base, err := policy.Resolve(firstNonEmpty(o.Policy, isolate.DefaultPolicy))
	if err != nil {
		return isoDie(meta, "--jailrun-policy: %v", err)
	}
	cwd, _ := os.Getwd()
	s, err := isolate.Translate(o, base, isolate.Box{Dir: c.boxDir, CallerDir: cwd, CallerEnv: os.Environ()})
	if err != nil {
		return isoDie(meta, "%v", err)
	}

	req := sandbox.Request{Policy: s, Argv: o.Command(), Env: os.Environ(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	redirect := func(inner string, write bool) (*os.File, error) {
		f, err := isoOpen(s, inner, write, int(c.uid), int(c.gid), c.root0)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	if o.Stdin != "" {
		f, err := redirect(o.Stdin, false)
		if err != nil {
			return isoDie(meta, "%v", err)
		}
		req.Stdin = f
	}
	if o.Stdout != "" {
		f, err := redirect(o.Stdout, true)
		if err != nil {
			return isoDie(meta, "%v", err)
		}
		req.Stdout = f
	}
	switch {
	case o.StderrToStdout:
		req.Stderr = req.Stdout
	case o.Stderr != "":
		f, err := redirect(o.Stderr, true)
		if err != nil {
			return isoDie(meta, "%v", err)
		}
		req.Stderr = f
	}

	opts := sandbox.Options{
		CgroupParent: os.Getenv("JAILRUN_CGROUP_PARENT"),
		Logf:         func(format string, a ...any) { fmt.Fprintf(os.Stderr, "jailrun: warning: "+format+"\n", a...) },
	}
	if c.root0 {
		opts.HostUID, opts.HostGID = c.uid, c.gid
	} else {
		// Without root the box cannot be given to an id of its own: the sandbox's user is the caller, who
		// owns the box (see docs/isolate.md, "Without root").
		opts.IDMapping = sandbox.IDMapCaller
	}
	runner, err := sandbox.NewRunner(opts)
	if err != nil {
		return isoDie(meta, "%v", err)
	}
	defer runner.Close()

	// isolate gives the box to the box's user for the run and back to the caller after it (chowntree). After
	// the run, also without root, what is neither a regular file nor a directory goes (see fixBox).
	if c.root0 {
		if err := fixBox(c.boxDir, true, int(c.uid), int(c.gid), true); err != nil {
			return isoDie(meta, "Cannot chown box: %v", err)
		}
	}
	defer func() {
		if err := fixBox(c.boxDir, c.root0, c.callerUID, c.callerGID, c.specialsOK); err != nil && code != isoExitError {
			code = isoDie(nil, "Cannot chown box back: %v", err)
		}
	}()

	// isolate's keeper turns SIGINT, SIGTERM, SIGHUP and SIGQUIT into "Interrupted": the box is killed at
	// once and the run reported with exitsig:<the signal>, status:SG, killed:1, exit 1.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	var interrupt atomic.Int32
	go func() {
		select {
		case sig := <-sigs:
			interrupt.Store(int32(sig.(syscall.Signal)))
			cancel()
		case <-ctx.Done():
		}
	}()
	c.msg("Running %q in box %d (policy %s, host uid %d)", req.Argv, c.boxID, s.Name, c.uid)
	res, runErr := runner.Run(ctx, req)
	cancel()
	if sig := interrupt.Load(); sig != 0 {
		return isoInterrupted(c, meta, res, int(sig))
	}
	if runErr != nil {
		if errno, ok := execFailure(runErr); ok {
			return isoExecFailed(c, o, meta, res, req.Stderr, errno)
		}
		return isoDie(meta, "%v", runErr)
	}
	if c.root0 && (res.Enforced.HostUID != c.uid || res.Enforced.HostGID != c.gid) {
		// The box was given to c.uid; a run under any other id could not use it, or could reach another's.
		return isoDie(meta, "the sandbox ran as host uid %d, not the box's uid %d", res.Enforced.HostUID, c.uid)
	}
	if err := isoWriteMeta(meta, res.Meta()); err != nil {
		return isoDie(nil, "%v", err)
	}
	return isoStatus(c, res)
}

// execFailure says whether the run failed because the command could not be executed (missing, no execute
// permission, a bad #! interpreter, not an executable format), and with which errno.
func execFailure(err error) (unix.Errno, bool) {
	var errno unix.Errno
	switch {
	case errors.Is(err, sandbox.ErrCannotExec) && errors.As(err, &errno):
		return errno, true
	case errors.Is(err, sandbox.ErrNotFound):
		return unix.ENOENT, true
	}
	return 0, false
}

// isoExecFailed reports a command that could not be executed as isolate does: its box_inside prints
// `execve("CMD"): <strerror>` on the program's stderr and exits 127, so the run ends as any exit 127 does
// (status:RE, exitcode:127, "Exited with error status 127", exit 1), not as a sandbox error, which CMS would
// retry forever.
func isoExecFailed(c *isoConfig, o *isolate.Options, meta *metaFile, res *sandbox.Result, stderr io.Writer, errno unix.Errno) int {
	msg := errno.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:] // as glibc's %m spells it: "No such file or directory"
	}
	if stderr != nil {
		fmt.Fprintf(stderr, "execve(\"%s\"): %s\n", o.Argv[0], msg)
	}
	r := sandbox.Result{}
	if res != nil {
		r = *res
	}
	r.Status, r.ExitCode, r.Signal, r.Message, r.Limit, r.Violation = sandbox.StatusNonzeroExit, 127, 0, "", nil, nil
	if err := isoWriteMeta(meta, r.Meta()); err != nil {
		return isoDie(nil, "%v", err)
	}
	return isoStatus(c, &r)
}

// isoInterrupted reports a run stopped by a signal to jailrun as isolate's keeper does: exitsig:<signal>,
// status:SG, message:Interrupted, killed:1 and the run's figures; "Interrupted" on stderr, exit 1.
func isoInterrupted(c *isoConfig, meta *metaFile, res *sandbox.Result, sig int) int {
	lines := []sandbox.MetaLine{{Key: "exitsig", Value: strconv.Itoa(sig)}, {Key: "status", Value: "SG"},
		{Key: "message", Value: "Interrupted"}, {Key: "killed", Value: "1"}}
	if res != nil && res.Status != sandbox.StatusSetupError {
		for _, l := range res.Meta() {
			switch l.Key {
			case "time", "time-wall", "max-rss", "csw-voluntary", "csw-forced", "cg-mem", "cg-oom-killed":
				lines = append(lines, l)
			}
		}
	}
	if err := isoWriteMeta(meta, lines); err != nil {
		return isoDie(nil, "%v", err)
	}
	if !c.silent {
		fmt.Fprintln(os.Stderr, "Interrupted")
	}
	return isoExitProgram
}

// isoWriteMeta writes the meta file's lines and puts it in place (nil meta: no -M).
func isoWriteMeta(meta *metaFile, lines []sandbox.MetaLine) error {
	return meta.writeLines(lines)
}

// isoStatus prints isolate's one status line on stderr and returns its exit code.
func isoStatus(c *isoConfig, res *sandbox.Result) int {
	if res.Status == sandbox.StatusOK {
		if !c.silent {
			cpu, wall := int64(res.CPUTimeMS.TotalMS), int64(res.WallTimeMS)
			fmt.Fprintf(os.Stderr, "OK (%d.%03d sec real, %d.%03d sec wall)\n", cpu/1000, cpu%1000, wall/1000, wall%1000)
		}
		return isoExitOK
	}
	if !c.silent {
		for _, l := range res.Meta() {
			if l.Key == "message" {
				fmt.Fprintln(os.Stderr, l.Value)
			}
		}
	}
	return isoExitProgram
}
