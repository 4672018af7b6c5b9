package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/audit"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// needSandboxes skips without root, or fails under JAILRUN_REQUIRE_PRIVILEGED=1.
func needSandboxes(t *testing.T) (*sandbox.Runner, *policy.Settings) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("JAILRUN_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("needs root to run sandboxes (JAILRUN_REQUIRE_PRIVILEGED=1)")
		}
		t.Skip("needs root to run sandboxes")
	}
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

func shReq(s *policy.Settings, script string) sandbox.Request {
	return sandbox.Request{Policy: s, Argv: []string{"/bin/sh", "-c", script}}
}

func withLimits(s *policy.Settings, wall time.Duration, stdout int64) *policy.Settings {
	c := s.Clone()
	if wall > 0 {
		c.Limits.WallTime = wall
	}
	if stdout > 0 {
		c.Limits.Output.Stdout = stdout
	}
	return c
}

func sum(b string) string { s := sha256.Sum256([]byte(b)); return hex.EncodeToString(s[:]) }

func TestInteractCorrect(t *testing.T) {
	r, strict := needSandboxes(t)
	var tr bytes.Buffer
	logPath := filepath.Join(t.TempDir(), "audit.log")
	lg, err := audit.Open(logPath, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	// The interactor asks three questions and checks each answer; the solution doubles numbers.
	interactor := shReq(strict, `for q in 3 10 21; do echo $q; read a; [ "$a" = $((q*2)) ] || exit 1; done; echo bye`)
	solution := shReq(strict, `while read x; do [ "$x" = bye ] && exit 0; echo $((x*2)); done; exit 3`)
	res, err := sandbox.Interact(context.Background(), r, solution, interactor, sandbox.InteractOptions{Transcript: &tr, Audit: lg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Solution.Status != sandbox.StatusOK || res.Interactor.Status != sandbox.StatusOK {
		t.Fatalf("solution %s (%d), interactor %s (%d)", res.Solution.Status, res.Solution.ExitCode, res.Interactor.Status, res.Interactor.ExitCode)
	}
	if got := res.SolutionToInteractor; got.Bytes != int64(len("6\n20\n42\n")) || got.SHA256 != sum("6\n20\n42\n") {
		t.Fatalf("solution>interactor %+v", got)
	}
	if got := res.InteractorToSolution; got.Bytes != int64(len("3\n10\n21\nbye\n")) || got.SHA256 != sum("3\n10\n21\nbye\n") {
		t.Fatalf("interactor>solution %+v", got)
	}
	// The transcript replays both directions exactly, in order per direction.
	per := map[string]string{}
	err = sandbox.DecodeTranscript(&tr, func(_ float64, dir string, data []byte, _ bool) error {
		per[dir] += string(data)
		return nil
	})
	if err != nil || per[sandbox.DirSolutionToInteractor] != "6\n20\n42\n" || per[sandbox.DirInteractorToSolution] != "3\n10\n21\nbye\n" {
		t.Fatalf("transcript %q (%v)", per, err)
	}
	if res.Transcript.Bytes != 20 || res.Transcript.Truncated {
		t.Fatalf("transcript stats %+v", res.Transcript)
	}
	f, _ := os.Open(logPath)
	defer f.Close()
	if v, err := audit.Verify(f, audit.VerifyOptions{}); err != nil || v.Records != 2 {
		t.Fatalf("audit: %+v %v", v, err)
	}
}

func TestInteractMisbehavingInteractor(t *testing.T) {
	r, strict := needSandboxes(t)
	cases := []struct {
		name        string
		interactor  sandbox.Request
		solution    sandbox.Request
		opts        sandbox.InteractOptions
		wantInter   sandbox.Status
		wantSol     []sandbox.Status // any of
		firstExit   string
		maxDuration time.Duration
	}{
		{
			name:       "interactor dies at once",
			interactor: shReq(strict, `exit 1`),
			// The solution reads EOF and writes into a closed pipe.
			solution:    shReq(strict, `read x; echo answer; exit 0`),
			wantInter:   sandbox.StatusNonzeroExit,
			wantSol:     []sandbox.Status{sandbox.StatusOK, sandbox.StatusSignaled},
			firstExit:   "interactor",
			maxDuration: 10 * time.Second,
		},
		{
			name:       "interactor hangs: its wall time ends it, the solution then sees EOF",
			interactor: shReq(withLimits(strict, time.Second, 0), `sleep 1000`),
			solution:   shReq(strict, `read x || exit 4; exit 0`),
			wantInter:  sandbox.StatusWallTimeLimit,
			wantSol:    []sandbox.Status{sandbox.StatusNonzeroExit},
			firstExit:  "interactor", maxDuration: 15 * time.Second,
		},
		{
			name:       "solution floods: stopped by its own output limit",
			interactor: shReq(strict, `cat >/dev/null`),
			solution:   shReq(withLimits(strict, 0, 1<<20), `yes flood`),
			wantInter:  sandbox.StatusOK,
			wantSol:    []sandbox.Status{sandbox.StatusOutputLimit},
			firstExit:  "solution", maxDuration: 15 * time.Second,
		},
		{
			name:       "solution ignores EOF: PeerGrace stops it",
			interactor: shReq(strict, `exit 0`),
			solution:   shReq(strict, `sleep 1000`),
			opts:       sandbox.InteractOptions{PeerGrace: 300 * time.Millisecond},
			wantInter:  sandbox.StatusOK,
			wantSol:    []sandbox.Status{sandbox.StatusSignaled},
			firstExit:  "interactor", maxDuration: 10 * time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res, err := sandbox.Interact(context.Background(), r, tc.solution, tc.interactor, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > tc.maxDuration {
				t.Fatalf("took %v, want under %v", d, tc.maxDuration)
			}
			if res.Interactor.Status != tc.wantInter {
				t.Fatalf("interactor %s (%s), want %s", res.Interactor.Status, res.Interactor.Message, tc.wantInter)
			}
			ok := false
			for _, s := range tc.wantSol {
				ok = ok || res.Solution.Status == s
			}
			if !ok {
				t.Fatalf("solution %s (%s, exit %d), want one of %v", res.Solution.Status, res.Solution.Message, res.Solution.ExitCode, tc.wantSol)
			}
			if res.FirstExit != tc.firstExit {
				t.Fatalf("first exit %q, want %q", res.FirstExit, tc.firstExit)
			}
			if tc.wantSol[0] == sandbox.StatusOutputLimit {
				if d := res.SolutionToInteractor; d.Bytes != 1<<20 || !d.Truncated {
					t.Fatalf("solution>interactor %+v, want exactly the 1 MiB limit and truncated", d)
				}
			}
			if tc.opts.PeerGrace > 0 && !strings.Contains(res.Solution.Message+res.Solution.Limit.Value, "other side") {
				t.Fatalf("solution stopped without naming the peer: %+v %+v", res.Solution.Message, res.Solution.Limit)
			}
		})
	}
}

func TestInteractRejectsPresetStdio(t *testing.T) {
	r, strict := needSandboxes(t)
	s := shReq(strict, "true")
	s.Stdout = os.Stdout
	_, err := sandbox.Interact(context.Background(), r, s, shReq(strict, "true"), sandbox.InteractOptions{})
	if !errors.Is(err, sandbox.ErrPolicy) {
		t.Fatalf("err %v, want ErrPolicy", err)
	}
}

func TestInteractTranscriptCapped(t *testing.T) {
	r, strict := needSandboxes(t)
	var tr bytes.Buffer
	res, err := sandbox.Interact(context.Background(), r,
		shReq(strict, `head -c 100000 /dev/zero | tr '\0' x`), shReq(strict, `cat >/dev/null`),
		sandbox.InteractOptions{Transcript: &tr, TranscriptLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.SolutionToInteractor.Bytes != 100000 || !res.Transcript.Truncated || res.Transcript.Bytes != 1000 {
		t.Fatalf("link %+v transcript %+v", res.SolutionToInteractor, res.Transcript)
	}
	if tr.Len() > 4000 {
		t.Fatalf("transcript is %d bytes for a 1000-byte cap", tr.Len())
	}
}

func TestPipeline(t *testing.T) {
	r, strict := needSandboxes(t)
	var out bytes.Buffer
	stages := []sandbox.Request{
		shReq(strict, `printf 'b\na\nc\n'`),
		{Policy: strict, Argv: []string{"sort"}},
		{Policy: strict, Argv: []string{"tr", "a-z", "A-Z"}, Stdout: &out},
	}
	res, err := sandbox.Pipeline(context.Background(), r, stages, sandbox.PipelineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "A\nB\nC\n" || res.Status() != sandbox.StatusOK {
		t.Fatalf("output %q, status %s", out.String(), res.Status())
	}
	if res.Links[0].SHA256 != sum("b\na\nc\n") || res.Links[1].SHA256 != sum("a\nb\nc\n") || res.Links[1].Bytes != 6 {
		t.Fatalf("links %+v", res.Links)
	}
}

// As in a shell, `yes | head -n1` ends at once: yes gets SIGPIPE when head is gone, however much output
// its policy would allow.
func TestPipelineSIGPIPE(t *testing.T) {
	r, strict := needSandboxes(t)
	for _, limit := range []int64{0, 1 << 30} {
		var out bytes.Buffer
		s := strict.Clone()
		s.Limits.Output.Stdout, s.Limits.Output.Total = limit, 0
		start := time.Now()
		res, err := sandbox.Pipeline(context.Background(), r, []sandbox.Request{
			{Policy: s, Argv: []string{"yes"}},
			{Policy: strict, Argv: []string{"head", "-n1"}, Stdout: &out},
		}, sandbox.PipelineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("stdout limit %d: took %v", limit, d)
		}
		if out.String() != "y\n" || res.Stages[0].SignalName != "SIGPIPE" || res.Status() != sandbox.StatusOK {
			t.Fatalf("stdout limit %d: out %q, yes %s %s, status %s", limit, out.String(), res.Stages[0].Status, res.Stages[0].SignalName, res.Status())
		}
	}
}

func TestPipelineRejectsMiddleStdio(t *testing.T) {
	r, strict := needSandboxes(t)
	a := shReq(strict, "true")
	a.Stdout = os.Stdout
	if _, err := sandbox.Pipeline(context.Background(), r, []sandbox.Request{a, shReq(strict, "true")}, sandbox.PipelineOptions{}); !errors.Is(err, sandbox.ErrPolicy) {
		t.Fatalf("err %v, want ErrPolicy", err)
	}
}

// The transcript is in the order the data crossed: in a strict ping-pong every query is recorded before the
// reply to it. A chunk recorded only after its write returned could come after the reply it caused (the
// other side reads, answers, and its relay records first), so this runs enough rounds to catch that.
func TestInteractTranscriptOrder(t *testing.T) {
	r, strict := needSandboxes(t)
	const rounds = 400
	var tr bytes.Buffer
	interactor := shReq(strict, `i=0; while [ $i -lt `+strconv.Itoa(rounds)+` ]; do echo q$i; read a; [ "$a" = a$i ] || exit 1; i=$((i+1)); done`)
	solution := shReq(strict, `while read q; do echo a${q#q}; done`)
	res, err := sandbox.Interact(context.Background(), r, solution, interactor, sandbox.InteractOptions{Transcript: &tr})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interactor.Status != sandbox.StatusOK {
		t.Fatalf("interactor %s (%d)", res.Interactor.Status, res.Interactor.ExitCode)
	}
	// Concatenated in transcript order, the lines must alternate q0 a0 q1 a1 ... whatever the chunking.
	var all strings.Builder
	err = sandbox.DecodeTranscript(&tr, func(_ float64, dir string, data []byte, _ bool) error {
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if line == "" {
				continue
			}
			want := "q"
			if dir == sandbox.DirSolutionToInteractor {
				want = "a"
			}
			if !strings.HasPrefix(line, want) {
				return fmt.Errorf("%s carried %q", dir, line)
			}
		}
		all.WriteString(string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	if len(lines) != 2*rounds {
		t.Fatalf("%d lines in the transcript, want %d", len(lines), 2*rounds)
	}
	for i, l := range lines {
		want := fmt.Sprintf("q%d", i/2)
		if i%2 == 1 {
			want = fmt.Sprintf("a%d", i/2)
		}
		if l != want {
			t.Fatalf("transcript line %d is %q, want %q: a reply was recorded before its query (or the reverse)", i, l, want)
		}
	}
}
