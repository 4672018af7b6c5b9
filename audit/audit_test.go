package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func emitN(t *testing.T, l *Logger, n int, runID string) {
	t.Helper()
	for i := 0; i < n; i++ {
		typ := []string{TypeRunStart, TypeChannelOpen, TypeLimitHit, TypeRunEnd}[i%4]
		if err := l.Emit(Event{Type: typ, RunID: runID, Data: LimitHitData{Name: "i", Value: strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyFile(t *testing.T, path string, o VerifyOptions) (VerifyResult, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Verify(f, o)
}

func TestChainContinuesAcrossLoggers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for round := 0; round < 3; round++ {
		l, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		emitN(t, l, 5, fmt.Sprint("run", round))
		l.Close()
	}
	res, err := verifyFile(t, path, VerifyOptions{})
	if err != nil || res.Records != 15 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v, want 0600", fi.Mode())
	}
	lines := readLines(t, path)
	var first, last map[string]any
	json.Unmarshal(lines[0], &first)
	json.Unmarshal(lines[14], &last)
	if first["prev"] != Genesis || first["seq"].(float64) != 1 || last["seq"].(float64) != 15 || last["hash"] != res.Head {
		t.Fatalf("first %v last %v head %s", first, last, res.Head)
	}
	if first["v"].(float64) != SchemaVersion || first["type"] != TypeRunStart || first["run_id"] != "run0" {
		t.Fatalf("first record %v", first)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
		if !bytes.HasSuffix(l, []byte("\n")) {
			b = append(b, '\n')
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// reseal recomputes a line's own hash after an edit, as a careful forger would.
func reseal(line []byte) []byte {
	body, _, err := unseal(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		panic(err)
	}
	l, _ := seal(body, nil)
	return append(l, '\n')
}

func TestVerifyFindsTheBrokenRecord(t *testing.T) {
	cases := []struct {
		name       string
		tamper     func(lines [][]byte) [][]byte
		raw        func(b []byte) []byte // alternative: edit the file bytes
		wantRecord int
		wantReason string
	}{
		{"edited data", func(ls [][]byte) [][]byte {
			ls[4] = bytes.Replace(ls[4], []byte(`"value":"4"`), []byte(`"value":"9"`), 1)
			return ls
		}, nil, 5, "edited"},
		{"edited and resealed", func(ls [][]byte) [][]byte {
			ls[4] = reseal(bytes.Replace(ls[4], []byte(`"value":"4"`), []byte(`"value":"9"`), 1))
			return ls
		}, nil, 6, "prev does not match the hash of record 5"},
		{"record removed", func(ls [][]byte) [][]byte { return append(ls[:3], ls[4:]...) }, nil, 4, "removed or inserted"},
		{"first record removed", func(ls [][]byte) [][]byte { return ls[1:] }, nil, 1, "want 1"},
		{"records swapped", func(ls [][]byte) [][]byte { ls[2], ls[3] = ls[3], ls[2]; return ls }, nil, 3, "seq 4, want 3"},
		{"record duplicated", func(ls [][]byte) [][]byte {
			return append(ls[:3], append([][]byte{ls[2]}, ls[3:]...)...)
		}, nil, 4, "seq 3, want 4"},
		{"hash field removed", func(ls [][]byte) [][]byte {
			i := bytes.LastIndex(ls[7], []byte(hashSuffix))
			ls[7] = append(append([]byte{}, ls[7][:i]...), "}\n"...)
			return ls
		}, nil, 8, "no hash field"},
		{"cut inside the last record", nil, func(b []byte) []byte { return b[:len(b)-20] }, 10, "incomplete"},
		{"cut inside a middle record", nil, func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"seq":6,`))
			j := bytes.Index(b, []byte(`"seq":7,`))
			return append(append([]byte{}, b[:i+30]...), b[j-6:]...)
		}, 6, ""},
		{"blank line", func(ls [][]byte) [][]byte { return append(ls[:5], append([][]byte{[]byte("\n")}, ls[5:]...)...) }, nil, 6, "no hash field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			l, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			emitN(t, l, 10, "r")
			l.Close()
			if tc.tamper != nil {
				writeLines(t, path, tc.tamper(readLines(t, path)))
			} else {
				b, _ := os.ReadFile(path)
				os.WriteFile(path, tc.raw(b), 0o600)
			}
			_, err = verifyFile(t, path, VerifyOptions{})
			var be *BreakError
			if !errors.As(err, &be) {
				t.Fatalf("verify: %v, want a BreakError", err)
			}
			if be.Record != tc.wantRecord || !strings.Contains(be.Reason, tc.wantReason) {
				t.Fatalf("got %v, want record %d with %q", be, tc.wantRecord, tc.wantReason)
			}
		})
	}
}

// A chain alone cannot reveal that whole records were cut from the end; a head saved earlier can.
func TestVerifyAnchorDetectsTailTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(path, Options{})
	emitN(t, l, 6, "r")
	l.Close()
	full, err := verifyFile(t, path, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyFile(t, path, VerifyOptions{Anchor: full.Head}); err != nil {
		t.Fatalf("anchor at the head: %v", err)
	}
	writeLines(t, path, readLines(t, path)[:4])
	if _, err := verifyFile(t, path, VerifyOptions{}); err != nil {
		t.Fatalf("a tail-truncated chain is still a valid chain: %v", err)
	}
	_, err = verifyFile(t, path, VerifyOptions{Anchor: full.Head})
	var be *BreakError
	if !errors.As(err, &be) || !strings.Contains(be.Reason, "anchor") {
		t.Fatalf("anchor after truncation: %v", err)
	}
}

func TestKeyedChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	key := []byte("operator secret")
	l, err := Open(path, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	emitN(t, l, 3, "r")
	l.Close()
	if _, err := verifyFile(t, path, VerifyOptions{Key: key}); err != nil {
		t.Fatalf("with the key: %v", err)
	}
	// Without the key a forger cannot produce matching hashes, and a verifier without it sees a mismatch.
	if _, err := verifyFile(t, path, VerifyOptions{}); err == nil {
		t.Fatal("a keyed log verified without the key")
	}
	// Continuing the log with another key is refused before anything is written.
	if _, err := Open(path, Options{Key: []byte("other")}); !errors.Is(err, ErrSink) {
		t.Fatalf("open with another key: %v", err)
	}
}

func TestOpenFailsClosedOnBrokenTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, _ := Open(path, Options{})
	emitN(t, l, 2, "r")
	l.Close()
	b, _ := os.ReadFile(path)
	cases := map[string][]byte{
		"partial last line": b[:len(b)-5],
		"edited last line":  bytes.Replace(b, []byte(`"value":"1"`), []byte(`"value":"7"`), 1),
		"not a record":      append(append([]byte{}, b...), "hello\n"...),
	}
	for name, content := range cases {
		os.WriteFile(path, content, 0o600)
		if _, err := Open(path, Options{}); !errors.Is(err, ErrSink) {
			t.Errorf("%s: open succeeded (%v); a log that cannot be continued must fail the run", name, err)
		}
	}
	fifo := filepath.Join(dir, "fifo")
	unix.Mkfifo(fifo, 0o600)
	done := make(chan error)
	go func() { _, err := Open(fifo, Options{}); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrSink) {
			t.Errorf("fifo: %v", err)
		}
	case <-time.After(5 * time.Second):
		// Opening a FIFO for writing blocks until a reader comes: unblock it and fail.
		r, _ := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		defer r.Close()
		<-done
		t.Error("opening a FIFO as the audit file blocked")
	}
	if _, err := Open(filepath.Join(dir, "no", "such", "dir"), Options{}); !errors.Is(err, ErrSink) {
		t.Errorf("missing directory: %v", err)
	}
}

// Several loggers in one process, each with its own descriptor (flock is per open file description), all
// appending at once: every line whole, one chain.
func TestConcurrentLoggersOneChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Open(path, Options{})
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Close()
			for i := 0; i < 50; i++ {
				if err := l.Emit(Event{Type: TypeRunEnd, RunID: fmt.Sprint(g), Data: map[string]string{"pad": strings.Repeat("x", 5000)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	res, err := verifyFile(t, path, VerifyOptions{})
	if err != nil || res.Records != 400 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// The same across processes: this test binary re-runs itself as writers.
func TestConcurrentProcessesOneChain(t *testing.T) {
	if p := os.Getenv("JAILRUN_AUDIT_HELPER"); p != "" {
		t.Skip("helper")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	const procs, each = 6, 40
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		c := exec.Command(os.Args[0], "-test.run=^TestAuditHelperProcess$", "-test.count=1")
		c.Env = append(os.Environ(), "JAILRUN_AUDIT_HELPER="+path, "JAILRUN_AUDIT_N="+strconv.Itoa(each))
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	res, err := verifyFile(t, path, VerifyOptions{})
	if err != nil || res.Records != procs*each {
		t.Fatalf("verify: %+v %v", res, err)
	}
	pids := map[float64]int{}
	for _, l := range readLines(t, path) {
		var r map[string]any
		json.Unmarshal(l, &r)
		pids[r["pid"].(float64)]++
	}
	if len(pids) != procs {
		t.Fatalf("records from %d processes, want %d", len(pids), procs)
	}
}

func TestAuditHelperProcess(t *testing.T) {
	path := os.Getenv("JAILRUN_AUDIT_HELPER")
	if path == "" {
		t.Skip("only runs as a helper of TestConcurrentProcessesOneChain")
	}
	n, _ := strconv.Atoi(os.Getenv("JAILRUN_AUDIT_N"))
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < n; i++ {
		if err := l.Emit(Event{Type: TypeRunStart, RunID: strconv.Itoa(os.Getpid()), Data: RunStartData{Argv: []string{"x", strings.Repeat("y", i*100)}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	holder, _ := os.Open(path)
	defer holder.Close()
	unix.Flock(int(holder.Fd()), unix.LOCK_EX)
	start := time.Now()
	err = l.Emit(Event{Type: TypeRunStart})
	if !errors.Is(err, ErrSink) || time.Since(start) > 5*time.Second {
		t.Fatalf("emit under a held lock: %v after %v", err, time.Since(start))
	}
	unix.Flock(int(holder.Fd()), unix.LOCK_UN)
	if err := l.Emit(Event{Type: TypeRunStart}); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}

type failingSink struct{ n int }

func (f *failingSink) append(func(uint64, string) ([]byte, string, error), bool) error {
	f.n++
	return errors.New("disk on fire")
}
func (f *failingSink) Close() error   { return nil }
func (f *failingSink) String() string { return "failing" }

func TestBestEffort(t *testing.T) {
	var buf bytes.Buffer
	strict := New(Options{}, WriterSink(&buf, "buf"), &failingSink{})
	if err := strict.Emit(Event{Type: TypeRunStart}); !errors.Is(err, ErrSink) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("strict logger: %v, want ErrSink", err)
	}
	var got []error
	lax := New(Options{BestEffort: true, OnError: func(err error) { got = append(got, err) }}, &failingSink{})
	if err := lax.Emit(Event{Type: TypeRunStart}); err != nil || len(got) != 1 {
		t.Fatalf("best-effort logger: %v, reported %v", err, got)
	}
	var nilLogger *Logger
	if err := nilLogger.Emit(Event{Type: TypeRunStart}); err != nil {
		t.Fatal("a nil logger must be a no-op")
	}
}

func TestWriterSinkChains(t *testing.T) {
	var buf bytes.Buffer
	l := New(Options{}, WriterSink(&buf, "buf"))
	emitN(t, l, 5, "r")
	res, err := Verify(&buf, VerifyOptions{})
	if err != nil || res.Records != 5 {
		t.Fatalf("%+v %v", res, err)
	}
}

// listenGram collects datagrams on a fresh unixgram socket.
func listenGram(t *testing.T) (string, func() []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, func() []string {
		var msgs []string
		buf := make([]byte, 1<<16)
		for {
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := conn.Read(buf)
			if err != nil {
				return msgs
			}
			msgs = append(msgs, string(buf[:n]))
		}
	}
}

func TestSyslogAndJournaldSinks(t *testing.T) {
	path, recv := listenGram(t)
	s, err := SyslogSink("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	l := New(Options{}, s)
	emitN(t, l, 3, "r")
	l.Close()
	msgs := recv()
	if len(msgs) != 3 || !strings.Contains(msgs[0], "jailrun") || !strings.Contains(msgs[2], `"seq":3`) {
		t.Fatalf("syslog got %q", msgs)
	}

	path, recv = listenGram(t)
	j, err := JournaldSink(path)
	if err != nil {
		t.Fatal(err)
	}
	l = New(Options{}, j)
	emitN(t, l, 2, "r")
	l.Close()
	msgs = recv()
	var chain bytes.Buffer
	for _, m := range msgs {
		sc := bufio.NewScanner(strings.NewReader(m))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MESSAGE="); ok {
				chain.WriteString(v + "\n")
			}
		}
	}
	if res, err := Verify(&chain, VerifyOptions{}); err != nil || res.Records != 2 || !strings.Contains(msgs[0], "SYSLOG_IDENTIFIER=jailrun") {
		t.Fatalf("journald got %q: %v", msgs, err)
	}
	if _, err := JournaldSink(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrSink) {
		t.Fatalf("missing journald socket: %v", err)
	}
}

func TestParseSink(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []string{"-", "stderr", filepath.Join(dir, "a.log"), "file:" + filepath.Join(dir, "b.log")} {
		s, err := ParseSink(spec, Options{})
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		s.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "b.log")); err != nil {
		t.Errorf("file: prefix: %v", err)
	}
	if _, err := ParseSink("", Options{}); !errors.Is(err, ErrSink) {
		t.Errorf("empty spec: %v", err)
	}
}

func BenchmarkEmitFile(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "audit.log"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := RunStartData{Argv: []string{"/usr/bin/python3", "main.py"}, Cwd: "/tmp", Limits: map[string]string{"memory": "256M"}}
	for i := 0; i < b.N; i++ {
		if err := l.Emit(Event{Type: TypeRunStart, RunID: "r", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}
