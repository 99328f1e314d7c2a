package main

import (
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/stats"
)

// Short local names for the shared arithmetic.
func percentile(ds []time.Duration, p float64) time.Duration { return stats.Percentile(ds, p) }
func ms(d time.Duration) float64                             { return stats.MS(d) }
func verdict(ok bool) string                                 { return stats.Verdict(ok) }
