// Package ident checks the short names operators give things (channels, tenants): 1-64 ASCII letters,
// digits, '_', '.' or '-'. It is a loop, not a regexp, because every jailrun process would otherwise
// compile the regexp at start-up (about a thousand allocations) whether or not it ever checks a name.
package ident

// MaxLen is the longest valid name.
const MaxLen = 64

// Valid reports whether s is 1-64 characters from [A-Za-z0-9_.-].
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
