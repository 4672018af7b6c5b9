package isolate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
)

func i64(v int64) *int64                 { return &v }
func dur(d time.Duration) *time.Duration { return &d }

// cmsRun is the argv CMS's IsolateSandbox.build_box_options produces for an evaluation (cms/grading/Sandbox.py).
var cmsRun = []string{"--cg", "--box-id=7", "--chdir=/tmp", "--dir=/tmp=/srv/cms/home:rw", "--dir=/dev/shm:tmp",
	"--dir=/etc/alternatives:maybe", "--env=HOME=/tmp", "--fsize=1024", "--stdin=/tmp/input.txt", "--stack=65536",
	"--cg-mem=262144", "--stdout=/tmp/output.txt", "--processes=1", "--stderr=/tmp/err.txt", "--time=1",
	"--wall-time=3", "--extra-time=0.5", "--meta=/srv/cms/run.meta.0", "--run", "--", "./sol", "arg"}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want Options
	}{
		{"init", []string{"--box-id=3", "--cg", "--init"}, Options{Mode: ModeInit, BoxID: 3, CG: true}},
		{"short clustered and attached", []string{"-sb12", "-t", "2.5", "-p4", "--init"},
			Options{Mode: ModeInit, BoxID: 12, Silent: true, Time: dur(2500 * time.Millisecond), Processes: i64(4)}},
		{"-p without a value takes no word", []string{"-p", "--run", "--", "/bin/true"},
			Options{Mode: ModeRun, Processes: i64(0), Argv: []string{"/bin/true"}}},
		{"long option separate argument, prefix", []string{"--box", "5", "--mem", "1024", "--cleanup"},
			Options{Mode: ModeCleanup, BoxID: 5, Mem: i64(1 << 20)}},
		{"permuted operands", []string{"--run", "/bin/echo", "-v"},
			Options{Mode: ModeRun, Verbose: 1, Argv: []string{"/bin/echo"}}},
		{"stderr-to-stdout wins over earlier stderr", []string{"-r", "e", "--stderr-to-stdout", "--run", "--", "x"},
			Options{Mode: ModeRun, StderrToStdout: true, Argv: []string{"x"}}},
		{"env rules", []string{"-E", "PATH", "-EA=1", "--env=B=", "-e", "--run", "--", "x"},
			Options{Mode: ModeRun, FullEnv: true, Argv: []string{"x"},
				Env: []EnvRule{{Name: "PATH", Inherit: true}, {Name: "A", Value: "1"}, {Name: "B"}}}},
		{"jailrun additions", []string{"--jailrun-policy=strict", "--jailrun-root", "/r", "--version"},
			Options{Mode: ModeVersion, Policy: "strict", BoxRoot: "/r"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseCMS(t *testing.T) {
	o, err := Parse(cmsRun)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeRun || o.BoxID != 7 || !o.CG || *o.CGMem != 256<<20 || *o.Time != time.Second ||
		*o.WallTime != 3*time.Second || *o.ExtraTime != 500*time.Millisecond || *o.FSize != 1<<20 ||
		*o.Stack != 64<<20 || *o.Processes != 1 || o.Stdin != "/tmp/input.txt" || o.Meta != "/srv/cms/run.meta.0" ||
		!reflect.DeepEqual(o.Argv, []string{"./sol", "arg"}) || len(o.Dirs) != 3 {
		t.Errorf("%+v", o)
	}
	// As isolate, the relative path is passed unchanged (executed from --chdir, /tmp).
	if got := o.Command(); !reflect.DeepEqual(got, []string{"./sol", "arg"}) {
		t.Errorf("command %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--box-id=1"}, "Please specify an isolate command"},
		{[]string{"--init", "--run"}, "Only one command is allowed"},
		{[]string{"--run"}, "--run mode requires a command"},
		{[]string{"--init", "x"}, "--init mode takes no parameters"},
		{[]string{"--cg-mem=1000", "--run", "x"}, "require --cg"},
		{[]string{"-b", "x", "--init"}, "Invalid numeric parameter: x"},
		{[]string{"-b", "-1", "--init"}, "Invalid numeric parameter"},
		{[]string{"--time=abc", "--init"}, "Invalid time parameter"},
		{[]string{"--bogus", "--init"}, "unrecognized option '--bogus'"},
		{[]string{"--s", "--init"}, "ambiguous"},
		{[]string{"-Z", "--init"}, "invalid option -- 'Z'"},
		{[]string{"--init", "-b"}, "requires an argument"},
		{[]string{"--cg=1", "--init"}, "doesn't allow an argument"},
		{[]string{"-d", "/x:bogus", "--init"}, "unknown option bogus"},
		{[]string{"-d", "/../etc", "--init"}, "Invalid directory rule"},
		{[]string{"-d", "/x=:rw", "--init"}, "takes no options"},
		{[]string{"-d", "/x=/y:tmp", "--init"}, "tmp accepts no outside"},
		{[]string{"-E", "=x", "--init"}, "Invalid environment"},
		{[]string{"-d", "/x:rw:bogus", "--init"}, "unknown option bogus"},
		{[]string{"-d", "/proc:fs", "--init"}, "fs needs the filesystem type"},
		{[]string{"-d", "/p=/proc:fs", "--init"}, "fs needs the filesystem type"},
		{[]string{"-d", "/p=proc:fs:tmp", "--init"}, "cannot be combined"},
	} {
		_, err := Parse(tc.args)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestDirRules(t *testing.T) {
	for in, want := range map[string]DirRule{
		"/etc/alternatives:maybe": {In: "/etc/alternatives", Out: "/etc/alternatives", Maybe: true},
		"box=/srv/b:rw,noexec":    {In: "/box", Out: "/srv/b", RW: true, NoExec: true},
		"/dev/shm:tmp":            {In: "/dev/shm", Tmp: true, RW: true},
		"/proc=proc:fs":           {In: "/proc", Out: "proc", FS: true},
		"/usr=":                   {In: "/usr", Remove: true},
		"/a=/b:norec,dev":         {In: "/a", Out: "/b", NoRec: true, Dev: true},
		// isolate's own separator between options is ':'.
		"/a=/b:rw:noexec":  {In: "/a", Out: "/b", RW: true, NoExec: true},
		"/proc=proc:fs:rw": {In: "/proc", Out: "proc", FS: true, RW: true},
		// isolate's usage example of fs.
		"/proc:proc:fs":       {In: "/proc", Out: "proc", FS: true},
		"proc:proc:fs,noexec": {In: "/proc", Out: "proc", FS: true, NoExec: true},
	} {
		got, err := ParseDirRule(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
}

func base(t *testing.T) *policy.Settings {
	t.Helper()
	s, err := policy.Builtin(DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func translate(t *testing.T, args ...string) *policy.Settings {
	t.Helper()
	o, err := Parse(append(args, "--run", "--", "/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Translate(o, base(t), Box{Dir: "/var/boxes/3/box", CallerDir: "/home/g", CallerEnv: []string{"PATH=/bin", "SECRET=x", "TERM=xterm"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rlimit(s *policy.Settings, r policy.Resource) (uint64, bool) {
	for _, l := range s.Rlimits {
		if l.Resource == r {
			return l.Hard, true
		}
	}
	return 0, false
}

func mount(s *policy.Settings, dst string) (policy.Mount, int) {
	for i, m := range s.Filesystem.Mounts {
		if m.Dst == dst {
			return m, i
		}
	}
	return policy.Mount{}, -1
}

func TestTranslateDefaults(t *testing.T) {
	s := translate(t)
	b := base(t)
	if s.Limits.Pids != 1 {
		t.Errorf("pids %d, want isolate's single process", s.Limits.Pids)
	}
	if s.Limits.Memory != b.Limits.Memory || s.Limits.CPUTime != b.Limits.CPUTime {
		t.Errorf("limits isolate has no default for must stay the base policy's: %+v", s.Limits)
	}
	if s.Limits.Output != (policy.OutputLimits{}) {
		t.Errorf("output limits %+v: the streams must go straight to their files", s.Limits.Output)
	}
	if v, _ := rlimit(s, policy.RlimitNofile); v != DefaultOpenFiles {
		t.Errorf("NOFILE %d", v)
	}
	if v, _ := rlimit(s, policy.RlimitStack); v != policy.RlimInfinity {
		t.Errorf("STACK %d, want unlimited as in isolate", v)
	}
	if _, ok := rlimit(s, policy.RlimitAS); ok {
		t.Error("AS set without -m")
	}
	if m, _ := mount(s, BoxDir); m.Kind != policy.MountBind || m.Src != "/var/boxes/3/box" || m.ReadOnly || !m.NoDev || !m.NoSuid {
		t.Errorf("box mount %+v", m)
	}
	if s.Filesystem.Workdir != BoxDir {
		t.Errorf("workdir %q", s.Filesystem.Workdir)
	}
	if !reflect.DeepEqual(s.Process.Env, []string{"LIBC_FATAL_STDERR_=1"}) || len(s.Process.EnvAllow) != 0 {
		t.Errorf("env %q allow %q: isolate passes nothing else", s.Process.Env, s.Process.EnvAllow)
	}
	if !s.Namespaces.Net || s.SHA256 == b.SHA256 || s.SHA256 == "" {
		t.Errorf("net %v sha %s", s.Namespaces.Net, s.SHA256)
	}
}

func TestTranslateOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(*testing.T, *policy.Settings) string
	}{
		{"cg-mem raises or lowers the memory limit", []string{"--cg", "--cg-mem=4194304"}, func(t *testing.T, s *policy.Settings) string {
			if s.Limits.Memory != 4<<30 || s.Limits.MemorySwap != 0 {
				return "memory wrong"
			}
			return ""
		}},
		{"-m is RLIMIT_AS", []string{"-m", "65536"}, func(t *testing.T, s *policy.Settings) string {
			if v, _ := rlimit(s, policy.RlimitAS); v != 64<<20 {
				return "AS wrong"
			}
			return ""
		}},
		{"time, extra time, wall time and the CPU backstop", []string{"-t", "1.5", "-x", "0.5", "-w", "4"}, func(t *testing.T, s *policy.Settings) string {
			l := s.Limits
			if l.CPUTime != 1500*time.Millisecond || l.ExtraTime != 500*time.Millisecond || l.WallTime != 4*time.Second {
				return "times wrong"
			}
			if v, _ := rlimit(s, policy.RlimitCPU); v != 3 {
				return "RLIMIT_CPU wrong"
			}
			return ""
		}},
		{"a long -t without -w keeps the wall backstop above it", []string{"-t", "100"}, func(t *testing.T, s *policy.Settings) string {
			if s.Limits.WallTime < 200*time.Second {
				return "wall " + s.Limits.WallTime.String()
			}
			return ""
		}},
		{"-p N, -p", []string{"-p", "-p5"}, func(t *testing.T, s *policy.Settings) string {
			if s.Limits.Pids != 5 {
				return "pids wrong"
			}
			return ""
		}},
		{"-p alone keeps the base cap", []string{"-p"}, func(t *testing.T, s *policy.Settings) string {
			if s.Limits.Pids != 128 {
				return "pids wrong"
			}
			return ""
		}},
		{"fsize, stack, core, open files", []string{"-f", "10", "-k", "2048", "--core=4", "-n", "0"}, func(t *testing.T, s *policy.Settings) string {
			f, _ := rlimit(s, policy.RlimitFsize)
			k, _ := rlimit(s, policy.RlimitStack)
			c, _ := rlimit(s, policy.RlimitCore)
			_, n := rlimit(s, policy.RlimitNofile)
			if f != 10<<10 || k != 2<<20 || c != 4<<10 || n {
				return "rlimits wrong"
			}
			return ""
		}},
		{"dir rules replace, append, remove", []string{"-d", "/tmp=/srv/home:rw", "-d", "/dev/shm:tmp", "-d", "/usr=", "-d", "data=rel:noexec,maybe"}, func(t *testing.T, s *policy.Settings) string {
			tmp, ti := mount(s, "/tmp")
			_, bi := mount(s, BoxDir)
			if tmp.Kind != policy.MountBind || tmp.Src != "/srv/home" || tmp.ReadOnly || ti > bi {
				return "tmp not replaced in place"
			}
			if shm, _ := mount(s, "/dev/shm"); shm.Kind != policy.MountTmpfs || shm.ReadOnly || shm.Size == 0 {
				return "shm"
			}
			if _, i := mount(s, "/usr"); i >= 0 {
				return "usr not removed"
			}
			if d, _ := mount(s, "/data"); d.Src != "/home/g/rel" || !d.NoExec || !d.Optional || !d.ReadOnly {
				return "relative bind"
			}
			return ""
		}},
		{"no default dirs", []string{"-D", "-d", "/box=/b:rw", "-d", "/usr"}, func(t *testing.T, s *policy.Settings) string {
			if len(s.Filesystem.Mounts) != 2 {
				return "mounts left"
			}
			return ""
		}},
		{"env in order after full-env", []string{"-e", "-E", "SECRET=", "-E", "X=1", "-E", "TERM", "-E", "LIBC_FATAL_STDERR_="}, func(t *testing.T, s *policy.Settings) string {
			if !reflect.DeepEqual(s.Process.Env, []string{"X=1"}) || !reflect.DeepEqual(s.Process.EnvAllow, []string{"PATH", "TERM"}) {
				return "env " + strings.Join(s.Process.Env, ",") + " allow " + strings.Join(s.Process.EnvAllow, ",")
			}
			return ""
		}},
		{"share-net", []string{"--share-net"}, func(t *testing.T, s *policy.Settings) string {
			if s.Namespaces.Net || s.Seccomp.Rules[0].Syscalls[0] != "socket" {
				return "net"
			}
			return ""
		}},
		{"chdir", []string{"-c", "sub"}, func(t *testing.T, s *policy.Settings) string {
			if s.Filesystem.Workdir != "/box/sub" {
				return s.Filesystem.Workdir
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := tc.check(t, translate(t, tc.args...)); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestTranslateProcRule: isolate's fs rule for /proc, however spelt, is the default layout's proc mount (it
// used to be a bare proc mount, which the policy invariants refused with a struct dump).
func TestTranslateProcRule(t *testing.T) {
	def, di := mount(translate(t), "/proc")
	for _, args := range [][]string{
		{"-d", "/proc=proc:fs"}, {"--dir=/proc:proc:fs"}, {"-d", "/proc=proc:fs,rw"}, {"-d", "proc=proc:fs:noexec"},
		{"-d", "/proc=", "-d", "/proc=proc:fs"},
	} {
		m, i := mount(translate(t, args...), "/proc")
		if m != def || i < 0 || (len(args) == 2 && i != di) {
			t.Errorf("%q: %+v at %d, want %+v at %d", args, m, i, def, di)
		}
	}
	s := translate(t, "-D", "-d", "/box=/b:rw", "-d", "/proc=proc:fs")
	if m, _ := mount(s, "/proc"); m != def {
		t.Errorf("without default dirs: %+v, want %+v", m, def)
	}
}

// TestCommand: argv[0] is passed as isolate passes it to execve, except that a bare name, which the sandbox
// would look up in PATH, becomes ./name.
func TestCommand(t *testing.T) {
	for in, want := range map[string]string{"./sol": "./sol", "sub/sol": "sub/sol", "/usr/bin/python3": "/usr/bin/python3", "sol": "./sol"} {
		o, err := Parse([]string{"--run", "--", in, "x"})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Command(); !reflect.DeepEqual(got, []string{want, "x"}) {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// TestHelp: --help and -h parse on any command line, and the usage names every option Parse knows.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--he"}, {"-b", "3", "--help", "--run"}} {
		if o, err := Parse(args); err != nil || !o.Help {
			t.Errorf("%q: %+v %v", args, o, err)
		}
	}
	for _, sp := range opts {
		if !strings.Contains(Usage, "--"+sp.long) {
			t.Errorf("usage lacks --%s", sp.long)
		}
		if sp.short != 0 && !strings.Contains(Usage, "-"+string(sp.short)+", --"+sp.long) {
			t.Errorf("usage lacks -%c", sp.short)
		}
	}
}

func TestTranslateRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-q", "100,10"}, {"--inherit-fds"}, {"--tty-hack"}, {"--as-uid=5"}, {"--print-cg-root"},
		{"-d", "/dev/kvm:dev"}, {"-d", "/sys=sysfs:fs"}, {"-d", "/x=proc:fs"},
		{"-d", "/sys"}, {"-d", "/x=/proc"},
	} {
		o, err := Parse(append(args, "--run", "--", "/bin/true"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Translate(o, base(t), Box{Dir: "/b"}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: %v, want ErrUnsupported", args, err)
		}
	}
}

func TestHostFile(t *testing.T) {
	s := translate(t, "-d", "/tmp=/srv/home:rw", "-d", "/ro=/srv/ro")
	for _, tc := range []struct {
		inner    string
		write    bool
		dir, rel string
		err      bool
	}{
		{"out.txt", true, "/var/boxes/3/box", "out.txt", false},
		{"/box/sub/x", true, "/var/boxes/3/box", "sub/x", false},
		{"/tmp/input.txt", false, "/srv/home", "input.txt", false},
		{"/ro/in", false, "/srv/ro", "in", false},
		{"/ro/out", true, "", "", true},
		{"/dev/shm/x", true, "", "", true},
		{"/box", true, "", "", true},
	} {
		dir, rel, err := HostFile(s, tc.inner, tc.write)
		if dir != tc.dir || rel != tc.rel || (err != nil) != tc.err {
			t.Errorf("%s: %q %q %v", tc.inner, dir, rel, err)
		}
	}
}
