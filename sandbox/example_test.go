package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// privilegedExamples launch real sandboxes, which needs root. Without it they are skipped with the reason
// (go test has no t.Skip for examples, so TestMain adds them to -test.skip), unless
// JAILRUN_REQUIRE_PRIVILEGED=1 (CI), which makes that a failure.
const privilegedExamples = "^Example(Runner_Run|_typedErrors|_gradingLoop|_interactive|Interact|_serviceHandler)$"

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Geteuid() != 0 {
		if os.Getenv("JAILRUN_REQUIRE_PRIVILEGED") == "1" {
			fmt.Fprintln(os.Stderr, "sandbox examples need root (JAILRUN_REQUIRE_PRIVILEGED=1)")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "sandbox: skipping the examples that run sandboxes: they need root")
		skip := privilegedExamples
		if cur := flag.Lookup("test.skip").Value.String(); cur != "" {
			skip = cur + "|" + skip
		}
		flag.Set("test.skip", skip)
	}
	os.Exit(m.Run())
}

// One run: a command under the built-in strict policy, its output and its verdict.
func ExampleRunner_Run() {
	// One Runner per process: it is safe for concurrent use and holds what runs share.
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	strict, err := policy.Builtin("strict")
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	res, err := r.Run(context.Background(), sandbox.Request{
		Policy: strict,
		Argv:   []string{"/bin/sh", "-c", `echo "hello from uid $(id -u)"; exit 3`},
		Stdout: &out,
	})
	if err != nil {
		// The run could not start: ErrPolicy, ErrUnsupported, ErrSetup, ErrNotFound, ErrCannotExec.
		log.Fatal(err)
	}
	fmt.Print(out.String())
	fmt.Println(res.Status, res.ExitCode)
	// Output:
	// hello from uid 1000
	// nonzero_exit 3
}

// Typed errors: a caller branches on what went wrong before the command ran.
func Example_typedErrors() {
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	strict, _ := policy.Builtin("strict")
	_, err = r.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/usr/bin/no-such-compiler"}})
	fmt.Println(errors.Is(err, sandbox.ErrNotFound))

	var se *sandbox.SetupError
	if errors.As(err, &se) {
		fmt.Println("failed at stage:", se.Stage)
	}

	_, err = sandbox.Tighten(strict, sandbox.Overrides{Pids: 10000})
	fmt.Println(errors.Is(err, sandbox.ErrPolicy))
	// Output:
	// true
	// failed at stage: exec
	// true
}

// Overrides may only tighten a policy; this needs no privileges.
func ExampleTighten() {
	strict, err := policy.Builtin("strict")
	if err != nil {
		log.Fatal(err)
	}
	p, err := sandbox.Tighten(strict, sandbox.Overrides{Memory: 64 << 20, WallTime: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Limits.Memory>>20, "MiB,", p.Limits.WallTime)
	fmt.Println(strict.Limits.Memory>>20, "MiB,", strict.Limits.WallTime, "(the shared policy is untouched)")

	_, err = sandbox.Tighten(strict, sandbox.Overrides{Memory: 1 << 30})
	fmt.Println(err)
	// Output:
	// 64 MiB, 2s
	// 256 MiB, 30s (the shared policy is untouched)
	// override limits.memory: 1G would loosen the policy's 256M; overrides may only tighten
}

// A grading loop: one submission run against each test case, with a per-case CPU time limit tighter than
// the policy's, and a verdict per case.
func Example_gradingLoop() {
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	interp, err := policy.Builtin("interpreter")
	if err != nil {
		log.Fatal(err)
	}
	// The contestant's program: right for positive numbers, wrong for negative ones, and it never ends
	// when the first number is 7.
	const submission = `
a, b = map(int, input().split())
while a == 7:
    pass
print(a + b if a >= 0 else a - b)
`
	// Tighten once, outside the loop: every case gets 1 s of CPU and 5 s of wall time. (Leave room for the
	// interpreter's own start: a cold python3 under software emulation has needed more than 500 ms.)
	limited, err := sandbox.Tighten(interp, sandbox.Overrides{CPUTime: time.Second, WallTime: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	cases := []struct{ in, want string }{
		{"1 2", "3"},
		{"40 2", "42"},
		{"-5 5", "0"},
		{"7 1", "8"},
	}
	for i, tc := range cases {
		var out bytes.Buffer
		res, err := r.Run(context.Background(), sandbox.Request{
			Policy: limited,
			Argv:   []string{"python3", "-c", submission},
			Stdin:  strings.NewReader(tc.in + "\n"),
			Stdout: &out,
		})
		if err != nil {
			log.Fatalf("case %d: %v", i+1, err)
		}
		verdict := "accepted"
		switch {
		case res.Status == sandbox.StatusTimeLimit || res.Status == sandbox.StatusWallTimeLimit:
			verdict = "time limit exceeded"
		case res.Status == sandbox.StatusMemoryLimit:
			verdict = "memory limit exceeded"
		case res.Status != sandbox.StatusOK:
			verdict = "runtime error (" + string(res.Status) + ")"
		case strings.TrimSpace(out.String()) != tc.want:
			verdict = "wrong answer"
		}
		fmt.Printf("case %d: %s\n", i+1, verdict)
	}
	// Output:
	// case 1: accepted
	// case 2: accepted
	// case 3: wrong answer
	// case 4: time limit exceeded
}

// Interactive judging: the judge is Go code in the caller, talking to the sandboxed program over its stdin
// and stdout while it runs. Here the program must find a secret number by asking; the judge answers
// "<", ">" or "=" and counts the questions.
func Example_interactive() {
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	interp, err := policy.Builtin("interpreter")
	if err != nil {
		log.Fatal(err)
	}
	const contestant = `
lo, hi = 1, 100
while True:
    guess = (lo + hi) // 2
    print(guess, flush=True)
    answer = input()
    if answer == "=":
        break
    if answer == "<":
        hi = guess - 1
    else:
        lo = guess + 1
`
	toProgram, judgeOut := io.Pipe()     // judge writes, the program reads its stdin
	programOut, fromProgram := io.Pipe() // the program's stdout, the judge reads

	const secret = 42
	verdict := make(chan string, 1)
	go func() {
		defer judgeOut.Close() // the program sees EOF if it asks after the end
		in := bufio.NewScanner(programOut)
		for asked := 1; in.Scan(); asked++ {
			var guess int
			if _, err := fmt.Sscan(in.Text(), &guess); err != nil || asked > 10 {
				verdict <- "wrong answer: " + in.Text()
				io.Copy(io.Discard, programOut)
				return
			}
			switch {
			case guess == secret:
				fmt.Fprintln(judgeOut, "=")
				verdict <- fmt.Sprintf("accepted: found %d in %d guesses", secret, asked)
				io.Copy(io.Discard, programOut) // drain whatever else the program writes
				return
			case secret < guess:
				fmt.Fprintln(judgeOut, "<")
			default:
				fmt.Fprintln(judgeOut, ">")
			}
		}
		verdict <- "wrong answer: the program stopped asking"
	}()

	res, err := r.Run(context.Background(), sandbox.Request{
		Policy: interp,
		Argv:   []string{"python3", "-c", contestant},
		Stdin:  toProgram,
		Stdout: fromProgram,
	})
	fromProgram.Close() // the run is over: the judge's reader ends
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-verdict)
	fmt.Println(res.Status)
	// Output:
	// accepted: found 42 in 7 guesses
	// ok
}

// Interactive judging with both programs sandboxed: the interactor (the problem setter's judge) and the
// solution each run under their own policy, stdout of each connected to stdin of the other.
func ExampleInteract() {
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	interactive, err := policy.Builtin("interactive")
	if err != nil {
		log.Fatal(err)
	}
	// The solution asks for a number between 1 and 100 by bisection.
	solution := sandbox.Shell(`lo=1 hi=100
while :; do
	g=$(( (lo + hi) / 2 )); echo "$g"; read -r r
	case "$r" in "=") exit 0;; "<") hi=$((g - 1));; *) lo=$((g + 1));; esac
done`)
	// The interactor knows the secret, answers, and writes its verdict on stderr.
	interactor := sandbox.Shell(`n=0
while read -r g; do
	n=$((n + 1))
	if [ "$g" -eq "$1" ]; then echo "="; echo "accepted in $n guesses" >&2; exit 0; fi
	if [ "$1" -lt "$g" ]; then echo "<"; else echo ">"; fi
done
echo "wrong answer: no guess" >&2; exit 1`, "42")

	var verdict bytes.Buffer
	res, err := sandbox.Interact(context.Background(), r,
		sandbox.Request{Policy: interactive, Argv: solution},
		sandbox.Request{Policy: interactive, Argv: interactor, Stderr: &verdict},
		sandbox.InteractOptions{PeerGrace: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(verdict.String())
	fmt.Println(res.Solution.Status, res.Interactor.Status, res.InteractorToSolution.Bytes, "bytes of answers")
	// Output:
	// accepted in 7 guesses
	// ok ok 14 bytes of answers
}

// A tenant-aware HTTP handler built on the library: tenants are told apart by a bearer token, each has an
// allowlist of policies, limit ceilings and a concurrency quota, and requests may only tighten. The
// ready-made version of this, with queues, metrics, peer credentials and graceful shutdown, is
// sandbox/service (jailrun serve).
func Example_serviceHandler() {
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	strict, err := policy.Builtin("strict")
	if err != nil {
		log.Fatal(err)
	}
	type tenant struct {
		policies map[string]*policy.Settings // allowlist, compiled once
		slots    chan struct{}               // concurrency quota
	}
	// Tenant ceilings are applied once with Cap (ignored where the policy is already tighter).
	teamA, err := sandbox.Cap(strict, sandbox.Overrides{WallTime: 5 * time.Second, Memory: 128 << 20})
	if err != nil {
		log.Fatal(err)
	}
	tenants := map[string]*tenant{
		"token-of-team-a": {policies: map[string]*policy.Settings{"strict": teamA}, slots: make(chan struct{}, 2)},
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		t := tenants[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
		if t == nil {
			http.Error(w, "unknown tenant", http.StatusUnauthorized)
			return
		}
		var body struct {
			Policy     string   `json:"policy"`
			Argv       []string `json:"argv"`
			WallTimeMS int64    `json:"wall_time_ms"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<20)).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		base, ok := t.policies[body.Policy]
		if !ok {
			http.Error(w, "policy not allowed", http.StatusForbidden)
			return
		}
		pol, err := sandbox.Tighten(base, sandbox.Overrides{WallTime: time.Duration(body.WallTimeMS) * time.Millisecond})
		if errors.Is(err, sandbox.ErrPolicy) {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		select {
		case t.slots <- struct{}{}:
			defer func() { <-t.slots }()
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "over quota", http.StatusTooManyRequests)
			return
		}
		var out bytes.Buffer
		// The request's context: a client that hangs up kills its sandbox.
		res, err := r.Run(req.Context(), sandbox.Request{Policy: pol, Argv: body.Argv, Stdout: &out})
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"result": res, "stdout": out.String()})
	})

	for _, c := range []struct{ token, body string }{
		{"token-of-team-a", `{"policy": "strict", "argv": ["/bin/echo", "hi"]}`},
		{"token-of-team-a", `{"policy": "strict", "argv": ["/bin/sleep", "10"], "wall_time_ms": 300}`},
		{"token-of-team-a", `{"policy": "strict", "argv": ["/bin/true"], "wall_time_ms": 60000}`},
		{"token-of-team-a", `{"policy": "interpreter", "argv": ["/bin/true"]}`},
		{"someone-else", `{"policy": "strict", "argv": ["/bin/true"]}`},
	} {
		req := httptest.NewRequest("POST", "/run", strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		var resp struct {
			Result *sandbox.Result `json:"result"`
			Stdout string          `json:"stdout"`
		}
		json.Unmarshal(rec.Body.Bytes(), &resp)
		if resp.Result != nil {
			fmt.Printf("%d %s %q\n", rec.Code, resp.Result.Status, resp.Stdout)
		} else {
			fmt.Printf("%d %s\n", rec.Code, strings.TrimSpace(rec.Body.String()))
		}
	}
	// Output:
	// 200 ok "hi\n"
	// 200 wall_time_limit ""
	// 422 override limits.wall_time: 1m0s would loosen the policy's 5s; overrides may only tighten
	// 403 policy not allowed
	// 401 unknown tenant
}
