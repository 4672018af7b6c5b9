package policy

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"strings"
	"testing"
)

// quote's fast path for plain ASCII must write exactly what the JSON encoder (without HTML escaping) writes:
// the canonical form, and so every policy's SHA256, depends on it.
func TestQuoteMatchesEncoder(t *testing.T) {
	slow := func(s string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		return strings.TrimSuffix(b.String(), "\n")
	}
	cases := []string{"", "read", "/usr/bin", "a<b>&c", `say "hi"`, `back\slash`, "tab\there", "nl\n", "\x7f", "é", "\u2028", "\xff", "~!@#$%^*()_+={}[]|:;',.?/"}
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{'x', byte(c), 'y'}))
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.Intn(12))
		for j := range b {
			b[j] = byte(rng.Intn(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := quote(s), slow(s); got != want {
			t.Errorf("quote(%q) = %s, the encoder writes %s", s, got, want)
		}
	}
}
