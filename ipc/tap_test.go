package ipc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestTapAccounts(t *testing.T) {
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	cases := []struct {
		name    string
		capture int
		chunks  []int // write sizes, cycled
	}{
		{"no capture", 0, []int{100}},
		{"capture, one byte writes", 16, []int{1}},
		{"capture, writes bigger than capture", 16, []int{1000}},
		{"capture, mixed", 64, []int{1, 63, 64, 65, 3}},
		{"capture larger than data", 20_000, []int{333}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tap := NewTap(&out, tc.capture)
			writes := 0
			for off, i := 0, 0; off < len(data); i++ {
				n := min(tc.chunks[i%len(tc.chunks)], len(data)-off)
				if _, err := tap.Write(data[off : off+n]); err != nil {
					t.Fatal(err)
				}
				off += n
				writes++
			}
			st := tap.Stats(true)
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatal("data not forwarded intact")
			}
			if st.Bytes != int64(len(data)) || st.SHA256 != hex.EncodeToString(sum[:]) || st.Messages != int64(writes) {
				t.Fatalf("stats %+v, want %d bytes, %d messages, sha %x", st, len(data), writes, sum)
			}
			if tc.capture == 0 {
				if st.Head != nil || st.Tail != nil {
					t.Fatal("content kept without capture")
				}
				return
			}
			c := min(tc.capture, len(data))
			if !bytes.Equal(st.Head, data[:c]) || !bytes.Equal(st.Tail, data[len(data)-c:]) {
				t.Fatalf("head/tail wrong: head %d bytes, tail %d bytes", len(st.Head), len(st.Tail))
			}
		})
	}
}

// Only what the destination accepted is accounted for, so the hash is of what really crossed.
func TestTapCountsOnlyAccepted(t *testing.T) {
	boom := errors.New("disk full")
	w := writerFunc(func(p []byte) (int, error) {
		if len(p) > 3 {
			return 3, boom
		}
		return len(p), nil
	})
	tap := NewTap(w, 8)
	tap.Write([]byte("ab"))
	tap.Write([]byte("cdefgh"))
	st := tap.Stats(false)
	sum := sha256.Sum256([]byte("abcde"))
	if st.Bytes != 5 || st.SHA256 != hex.EncodeToString(sum[:]) || string(st.Head) != "abcde" || st.Error != "disk full" {
		t.Fatalf("stats %+v", st)
	}
}

func FuzzTapTail(f *testing.F) {
	f.Add([]byte("hello world"), uint8(4), uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, capture uint8, seed uint64) {
		c := int(capture%32) + 1
		tap := NewTap(nil, c)
		r := rand.New(rand.NewPCG(seed, 0))
		for off := 0; off < len(data); {
			n := min(1+r.IntN(2*c), len(data)-off)
			tap.Write(data[off : off+n])
			off += n
		}
		st := tap.Stats(false)
		k := min(c, len(data))
		if !bytes.Equal(st.Tail, data[len(data)-k:]) || !bytes.Equal(st.Head, data[:k]) {
			t.Fatalf("capture %d of %q: head %q tail %q", c, data, st.Head, st.Tail)
		}
	})
}
