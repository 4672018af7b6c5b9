package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// typoOf returns the subcommand name argv0 most likely misspells, or "". It is asked only after argv0 was not
// found inside the sandbox, and only when the user gave no "--" (which says "this is a program"): a real
// program named like a subcommand (pip, bun, wipe) still runs, and `jailrun polcy list` gets a usage error
// instead of a sandbox's "command not found". A name with a '/' is a path, never a subcommand.
func typoOf(root *cobra.Command, argv0 string) string {
	if argv0 == "" || strings.Contains(argv0, "/") {
		return ""
	}
	// Short names tolerate one edit, longer ones two: "true" must not look like "run".
	limit := 1
	if len(argv0) >= 5 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range root.Commands() {
		if c.Hidden {
			continue
		}
		for _, name := range append([]string{c.Name()}, c.Aliases...) {
			if name == argv0 {
				continue
			}
			if d := editDistance(strings.ToLower(argv0), name); d < bestD {
				best, bestD = name, d
			}
		}
	}
	return best
}

// typoError is the one-line refusal for a mistyped subcommand.
func typoError(argv0, sub string) error {
	return fail(exitUsage, "unknown command %q; did you mean %q? (to run a program of that name, give its path, or put -- before it)", shorten(argv0), sub)
}

// editDistance is the optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
// two adjacent characters each cost one ("plociy" is one swap from "policy").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
