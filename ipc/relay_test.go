package ipc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

func TestRelayLimits(t *testing.T) {
	cases := []struct {
		name          string
		in            int
		limit, total  int64
		wantPassed    int
		wantTruncated bool
		wantByTotal   bool // the total, not the stream's own limit, cut it
	}{
		{"unlimited", 100_000, 0, 0, 100_000, false, false},
		{"under the stream limit", 1000, 1000, 0, 1000, false, false},
		{"one byte over the stream limit", 1001, 1000, 0, 1000, true, false},
		{"over the total", 5000, 0, 4096, 4096, true, true},
		{"stream limit below total", 5000, 10, 4096, 10, true, false},
		{"total below stream limit", 5000, 4096, 10, 10, true, true},
		{"empty", 0, 1, 1, 0, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := bytes.Repeat([]byte("x"), tc.in)
			var out bytes.Buffer
			calls := 0
			res := Relay(&out, bytes.NewReader(in), tc.limit, NewBudget(tc.total), func() { calls++ })
			if out.Len() != tc.wantPassed || res.Truncated != tc.wantTruncated || res.ByTotal != tc.wantByTotal {
				t.Fatalf("passed %d truncated %v by total %v, want %d %v %v", out.Len(), res.Truncated, res.ByTotal,
					tc.wantPassed, tc.wantTruncated, tc.wantByTotal)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.wantTruncated]; calls != want {
				t.Fatalf("onLimit called %d times, want %d", calls, want)
			}
			if res.Bytes < int64(tc.wantPassed) || res.Bytes > int64(tc.in) {
				t.Fatalf("Bytes %d outside [%d, %d]", res.Bytes, tc.wantPassed, tc.in)
			}
		})
	}
}

// Two streams share the total budget. Stream A is cut by its own limit; stream B fits in what is left of
// the total and must never be cut, however the reads interleave: the relay must not take from the shared
// budget more than it passes on, not even for an instant (the earlier code reserved a whole read from the
// total and gave the excess back afterwards, so B could see an empty total in between).
func TestRelaySharedBudgetNoFalseTruncation(t *testing.T) {
	for i := 0; i < 300; i++ {
		total := NewBudget(1000 + 3000)
		var wg sync.WaitGroup
		var resA, resB StreamResult
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			resA = Relay(io.Discard, &chunkReader{data: make([]byte, 100_000), chunk: 4096}, 1000, total, nil)
		}()
		go func() {
			defer wg.Done()
			<-start
			resB = Relay(io.Discard, &chunkReader{data: make([]byte, 3000), chunk: 1}, 0, total, nil)
		}()
		close(start)
		wg.Wait()
		if !resA.Truncated {
			t.Fatalf("iteration %d: stream A went over its own limit but was not cut", i)
		}
		if resB.Truncated {
			t.Fatalf("iteration %d: stream B was cut although it fits in the total", i)
		}
		if left := total.Left(); left != 0 {
			t.Fatalf("iteration %d: total left %d, want 0", i, left)
		}
	}
}

type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// endless is a child that never stops writing.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// A flood is stopped at the limit with one buffer of memory, however much the child would write.
func TestRelayFloodBoundedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var n int64
	res := Relay(writerFunc(func(p []byte) (int, error) { n += int64(len(p)); return len(p), nil }), endless{}, 64<<20, nil, func() {})
	runtime.ReadMemStats(&after)
	if !res.Truncated || n != 64<<20 {
		t.Fatalf("passed %d truncated %v, want exactly 64 MiB and truncated", n, res.Truncated)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*DefaultBufSize {
		t.Fatalf("relaying 64 MiB allocated %d bytes; want about one buffer (%d)", alloc, DefaultBufSize)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// When the destination breaks, the child must see EPIPE rather than block on a pipe nobody reads.
func TestRelayWriteErrorClosesSource(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	broken := writerFunc(func([]byte) (int, error) { return 0, syscall.EPIPE })
	done := make(chan StreamResult)
	go func() { done <- Relay(broken, pr, 0, nil, nil) }()
	if _, err := pw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if !errors.Is(res.Err, syscall.EPIPE) {
		t.Fatalf("Err = %v, want EPIPE", res.Err)
	}
	// The read end is closed: the writer fails instead of filling the pipe and blocking.
	buf := make([]byte, 1<<20)
	if _, err := pw.Write(buf); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("writer after the relay stopped: %v, want EPIPE", err)
	}
}

func BenchmarkRelayPipe(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		pr, pw, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			buf := make([]byte, 64<<10)
			for n := 0; n < size; n += len(buf) {
				if _, err := pw.Write(buf); err != nil {
					break
				}
			}
			pw.Close()
		}()
		res := Relay(io.Discard, pr, 0, nil, nil)
		pr.Close()
		if res.Bytes != size {
			b.Fatalf("relayed %d", res.Bytes)
		}
	}
}

// The shared total only ever goes down: a relay asks it exactly for what it passes on and never gives
// back. A monitor samples it while many relays are cut by their own limit; the earlier code took a whole
// read from the total and returned the excess, which shows up as the total going up again.
func TestRelaySharedBudgetNeverOverReserved(t *testing.T) {
	total := NewBudget(1 << 40)
	stop := make(chan struct{})
	rose := make(chan int64, 1)
	go func() {
		last := total.Left()
		for {
			select {
			case <-stop:
				close(rose)
				return
			default:
			}
			if l := total.Left(); l > last {
				rose <- l - last
				close(rose)
				<-stop
				return
			} else {
				last = l
			}
		}
	}()
	data := make([]byte, 4096)
	n := 400000
	if raceEnabled {
		n = 2000
	}
	for i := 0; i < n; i++ {
		Relay(io.Discard, bytes.NewReader(data), 1, total, nil)
	}
	close(stop)
	if d, ok := <-rose; ok {
		t.Fatalf("the shared total went up by %d: a relay reserved more than it passed on", d)
	}
	if got, want := total.Left(), int64(1<<40-n); got != want {
		t.Fatalf("total left %d, want %d", got, want)
	}
}
