// Package stats holds what the bench commands share: quantiles of samples and the "key value" summary
// lines that bench/run.sh reads.
package stats

import (
	"fmt"
	"os"
	"sort"
)

// Quantile returns the q-quantile (nearest rank) of xs, 0 for no samples.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	i := int(q*float64(len(c))+0.5) - 1
	return c[min(max(i, 0), len(c)-1)]
}

// Median returns the median of xs (the mean of the middle two for an even count), 0 for no samples.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	if n := len(c); n%2 == 0 {
		return (c[n/2-1] + c[n/2]) / 2
	}
	return c[len(c)/2]
}

// summaryOut receives the summary lines (-summary FILE); nil when not asked for.
var summaryOut *os.File

// OpenSummary appends the summary lines to path from now on; "" keeps them off.
func OpenSummary(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	summaryOut = f
	return nil
}

// Add writes one "key value" summary line, when a summary file is open.
func Add(key string, format string, a ...any) {
	if summaryOut != nil {
		fmt.Fprintf(summaryOut, "%s "+format+"\n", append([]any{key}, a...)...)
	}
}
