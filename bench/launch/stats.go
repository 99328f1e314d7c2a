package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest sample such that at least p% of the
// samples are at or below it. It does not modify ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// ms is d in milliseconds, for printing with three decimals.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// verdict is the word printed for a target.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
