// Package stats holds the arithmetic every benchmark in bench/ reports
// with, so their figures are computed the same way.
package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest sample such that at least p% of the
// samples are at or below it. It does not modify ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// MS is d in milliseconds, for printing with three decimals.
func MS(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// Verdict is the word printed for a target.
func Verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
