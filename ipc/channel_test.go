//go:build linux

package ipc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// open plays the launcher: Prepare, hand a copy of the child's end to the "child" (the test), close the
// parent's copy, Start. The returned file is what the sandboxed program would have at c.FD.
func open(t *testing.T, c *Channel, onLimit func()) *os.File {
	t.Helper()
	end, err := c.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(end.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	c.CloseChildEnd()
	c.Start(context.Background(), onLimit)
	child := os.NewFile(uintptr(fd), "child")
	t.Cleanup(func() { child.Close() })
	return child
}

// checkNoLeaks fails when goroutines started by the test outlive it.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

func TestChannelOutToWriter(t *testing.T) {
	checkNoLeaks(t)
	var got bytes.Buffer
	c := &Channel{Name: "log", FD: 3, Kind: KindOut, Writer: &got}
	child := open(t, c, nil)
	data := payload(1 << 20)
	if _, err := child.Write(data); err != nil {
		t.Fatal(err)
	}
	child.Close() // the child exits
	st := c.Finish()
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("writer got %d bytes, want %d", got.Len(), len(data))
	}
	if st.FromChild == nil || st.FromChild.Bytes != int64(len(data)) || st.FromChild.SHA256 != hexSum(data) || st.ToChild != nil {
		t.Fatalf("stats %+v", st)
	}
	if st.Endpoint != "caller" || st.ClosedAt.Before(st.OpenedAt) || st.Error != "" {
		t.Fatalf("stats %+v", st)
	}
}

func TestChannelInFromReader(t *testing.T) {
	checkNoLeaks(t)
	data := payload(300_000)
	c := &Channel{Name: "input", FD: 3, Kind: KindIn, Reader: bytes.NewReader(data)}
	child := open(t, c, nil)
	got, err := io.ReadAll(child)
	if err != nil {
		t.Fatal(err)
	}
	st := c.Finish()
	if !bytes.Equal(got, data) {
		t.Fatalf("child read %d bytes, want %d", len(got), len(data))
	}
	if st.ToChild.Bytes != int64(len(data)) || st.ToChild.SHA256 != hexSum(data) || st.FromChild != nil {
		t.Fatalf("stats %+v", st)
	}
}

// A child that never reads its input and exits must not hang the parent.
func TestChannelInChildNeverReads(t *testing.T) {
	checkNoLeaks(t)
	c := &Channel{Name: "input", FD: 3, Kind: KindIn, Reader: bytes.NewReader(make([]byte, 8<<20))}
	child := open(t, c, nil)
	time.Sleep(20 * time.Millisecond) // the copy fills the pipe and blocks
	child.Close()                     // the child exits without reading
	done := make(chan ChannelStats)
	go func() { done <- c.Finish() }()
	select {
	case st := <-done:
		if st.ToChild.Bytes >= 8<<20 || st.Error != "" || st.ToChild.Error != "" {
			t.Fatalf("stats %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Finish hung on a child that never read")
	}
}

func TestChannelNoEndpoint(t *testing.T) {
	checkNoLeaks(t)
	out := &Channel{Name: "sink", FD: 3, Kind: KindOut}
	child := open(t, out, nil)
	child.Write([]byte("counted but dropped"))
	child.Close()
	if st := out.Finish(); st.FromChild.Bytes != 19 || st.Endpoint != "none" {
		t.Fatalf("stats %+v", st)
	}
	in := &Channel{Name: "empty", FD: 4, Kind: KindIn}
	child = open(t, in, nil)
	b, err := io.ReadAll(child)
	if err != nil || len(b) != 0 {
		t.Fatalf("child read %q, %v; want EOF at once", b, err)
	}
	in.Finish()
}

func TestChannelLimit(t *testing.T) {
	checkNoLeaks(t)
	var got bytes.Buffer
	var hits atomic.Int32
	c := &Channel{Name: "log", FD: 3, Kind: KindOut, Writer: &got, Limit: 1000}
	child := open(t, c, func() { hits.Add(1) })
	go func() {
		child.Write(payload(5000)) // blocks or fails once the relay stops reading; the launcher would kill
		child.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	child.Close()
	st := c.Finish()
	if hits.Load() != 1 || got.Len() != 1000 || st.FromChild.Bytes != 1000 || !st.FromChild.Truncated ||
		st.FromChild.SHA256 != hexSum(payload(5000)[:1000]) {
		t.Fatalf("hits %d, got %d bytes, stats %+v", hits.Load(), got.Len(), st.FromChild)
	}
}

func TestChannelFileEndpoints(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out")
	c := &Channel{Name: "o", FD: 3, Kind: KindOut, File: outPath}
	child := open(t, c, nil)
	child.Write([]byte("to the file"))
	child.Close()
	st := c.Finish()
	b, err := os.ReadFile(outPath)
	if err != nil || string(b) != "to the file" || st.FromChild.SHA256 != hexSum(b) {
		t.Fatalf("file %q (%v), stats %+v", b, err, st)
	}
	if fi, _ := os.Stat(outPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600: the file holds the child's data", fi.Mode())
	}

	in := &Channel{Name: "i", FD: 3, Kind: KindIn, File: outPath}
	child = open(t, in, nil)
	if got, _ := io.ReadAll(child); string(got) != "to the file" {
		t.Fatalf("child read %q", got)
	}
	in.Finish()

	// The endpoint is opened by the parent, so a symlink planted there must not redirect it.
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "victim"), link)
	c = &Channel{Name: "o", FD: 3, Kind: KindOut, File: link}
	if _, err := c.Prepare(context.Background()); !errors.Is(err, ErrEndpoint) {
		t.Fatalf("symlink endpoint: %v, want ErrEndpoint", err)
	}
	c.Finish()
	if _, err := os.Stat(filepath.Join(dir, "victim")); err == nil {
		t.Fatal("symlink target was created")
	}
}

// serve accepts one connection on a fresh unix socket and runs fn on it.
func serve(t *testing.T, network string, fn func(net.Conn)) (string, *sync.WaitGroup) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen(network, path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer l.Close()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		fn(conn)
	}()
	return path, &wg
}

func TestChannelSocketEndpointBothWays(t *testing.T) {
	checkNoLeaks(t)
	toChild, fromChild := payload(200_000), payload(150_000)
	var serverGot []byte
	path, wg := serve(t, "unix", func(conn net.Conn) {
		wrote := make(chan struct{})
		go func() { conn.Write(toChild); conn.(*net.UnixConn).CloseWrite(); close(wrote) }()
		serverGot, _ = io.ReadAll(conn)
		<-wrote
	})
	c := &Channel{Name: "ctl", FD: 3, Kind: KindSocket, Socket: path}
	child := open(t, c, nil)
	var childGot []byte
	readDone := make(chan struct{})
	var readErr error
	go func() { childGot, readErr = io.ReadAll(child); close(readDone) }()
	child.Write(fromChild)
	unix.Shutdown(int(child.Fd()), unix.SHUT_WR)
	<-readDone
	child.Close()
	st := c.Finish()
	wg.Wait()
	if !bytes.Equal(childGot, toChild) || !bytes.Equal(serverGot, fromChild) {
		t.Fatalf("child got %d/%d bytes (%v), server got %d/%d; stats %+v", len(childGot), len(toChild), readErr, len(serverGot), len(fromChild), st)
	}
	if st.ToChild.SHA256 != hexSum(toChild) || st.FromChild.SHA256 != hexSum(fromChild) || st.Endpoint != "socket:"+path {
		t.Fatalf("stats %+v", st)
	}
}

func TestChannelSeqpacketCountsMessages(t *testing.T) {
	checkNoLeaks(t)
	var mu sync.Mutex
	var msgs [][]byte
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		msgs = append(msgs, append([]byte(nil), p...))
		mu.Unlock()
		return len(p), nil
	})
	c := &Channel{Name: "dg", FD: 3, Kind: KindSeqpacket, Writer: w, Capture: 4}
	child := open(t, c, nil)
	// A zero-length message is a message, not the end: the ones after it arrive, and it is counted.
	sent := [][]byte{[]byte("one"), payload(100_000), {}, []byte("three")}
	for _, m := range sent {
		if _, err := child.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	child.Close()
	st := c.Finish()
	if len(msgs) != len(sent) {
		t.Fatalf("writer saw %d messages, want %d: boundaries lost", len(msgs), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(msgs[i], sent[i]) {
			t.Fatalf("message %d differs", i)
		}
	}
	all := bytes.Join(sent, nil)
	if st.FromChild.Messages != 4 || st.FromChild.Bytes != int64(len(all)) || st.FromChild.SHA256 != hexSum(all) ||
		string(st.FromChild.Head) != "one\x00" || string(st.FromChild.Tail) != "hree" {
		t.Fatalf("stats %+v", st.FromChild)
	}
	if st.ToChild == nil || st.ToChild.Bytes != 0 {
		t.Fatalf("to_child %+v, want an empty account", st.ToChild)
	}
}

func TestChannelEndpointUnavailableFailsClosed(t *testing.T) {
	checkNoLeaks(t)
	c := &Channel{Name: "ctl", FD: 3, Kind: KindSocket, Socket: filepath.Join(t.TempDir(), "nobody-listens")}
	if _, err := c.Prepare(context.Background()); !errors.Is(err, ErrEndpoint) {
		t.Fatalf("err %v, want ErrEndpoint", err)
	}
	c.Finish()
}

// A caller's writer that never returns must not hang Finish.
func TestChannelFinishBoundedOnStuckWriter(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	w := writerFunc(func(p []byte) (int, error) { <-block; return len(p), nil })
	c := &Channel{Name: "slow", FD: 3, Kind: KindOut, Writer: w, Grace: 100 * time.Millisecond}
	child := open(t, c, nil)
	child.Write([]byte("x"))
	child.Close()
	start := time.Now()
	st := c.Finish()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Finish took %v with a 100ms grace", d)
	}
	if !strings.Contains(st.Error, "did not") {
		t.Fatalf("error %q, want the stuck endpoint reported", st.Error)
	}
}

func TestChannelContextCancelEndsRelays(t *testing.T) {
	checkNoLeaks(t)
	pr, pw := io.Pipe() // a reader that never delivers
	defer pw.Close()
	c := &Channel{Name: "s", FD: 3, Kind: KindSocket, Reader: pr, Writer: io.Discard, Grace: 100 * time.Millisecond}
	end, err := c.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, nil) // closes the child's end itself
	_ = end
	cancel()
	pw.CloseWithError(errors.New("caller done"))
	st := c.Finish()
	if st.FromChild == nil {
		t.Fatalf("stats %+v", st)
	}
}

func TestFinishWithoutStartReleasesEverything(t *testing.T) {
	dir := t.TempDir()
	before := countFDs(t)
	c := &Channel{Name: "o", FD: 3, Kind: KindSocket, File: filepath.Join(dir, "f")}
	if _, err := c.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Finish()
	c.Finish() // idempotent
	if after := countFDs(t); after != before {
		t.Fatalf("fds %d before, %d after", before, after)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestValidateAndParseSpec(t *testing.T) {
	cases := []struct {
		spec string
		want *Channel // nil: error
	}{
		{"log=fd:3", &Channel{Name: "log", FD: 3, Kind: KindOut}},
		{"log=fd:3:out,file=/tmp/x,limit=1M,capture=64", &Channel{Name: "log", FD: 3, Kind: KindOut, File: "/tmp/x", Limit: 1 << 20, Capture: 64}},
		{"in=fd:5:in,file=data.txt", &Channel{Name: "in", FD: 5, Kind: KindIn, File: "data.txt"}},
		{"ctl=fd:4:seqpacket,socket=/run/j.sock", &Channel{Name: "ctl", FD: 4, Kind: KindSeqpacket, Socket: "/run/j.sock"}},
		{"x=fd:2", nil},                   // stdio
		{"x=fd:1024", nil},                // above MaxFD
		{"x=fd:3:pipe", nil},              // unknown kind
		{"x=fd:three", nil},               // not a number
		{"x=3", nil},                      // no fd:
		{"bad name=fd:3", nil},            // name
		{"x=fd:3,file=/a,socket=/b", nil}, // two endpoints
		{"x=fd:3,limit=-1", nil},
		{"x=fd:3,capture=2M", nil},
		{"x=fd:3,colour=red", nil},
		{"x=fd:3,file=", nil},
	}
	for _, tc := range cases {
		got, err := ParseSpec(tc.spec)
		if tc.want == nil {
			if err == nil || !errors.Is(err, ErrChannel) {
				t.Errorf("%q: err %v, want ErrChannel", tc.spec, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got.Name != tc.want.Name || got.FD != tc.want.FD || got.Kind != tc.want.Kind || got.File != tc.want.File ||
			got.Socket != tc.want.Socket || got.Limit != tc.want.Limit || got.Capture != tc.want.Capture {
			t.Errorf("%q: got %+v", tc.spec, got)
		}
	}
	a, _ := ParseSpec("a=fd:3")
	b, _ := ParseSpec("b=fd:3")
	if err := ValidateAll([]*Channel{a, b}); err == nil || !strings.Contains(err.Error(), "fd 3") {
		t.Errorf("two channels on fd 3: %v", err)
	}
	if err := (&Channel{Name: "w", FD: 3, Kind: KindIn, Writer: io.Discard}).Validate(); err == nil {
		t.Error("a Writer on an input channel was accepted")
	}
}
