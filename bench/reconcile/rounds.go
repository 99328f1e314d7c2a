package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// roundMetric is the server's histogram of lifecycle rounds.
const roundMetric = "airlock_lifecycle_round_seconds"

// tally is the histogram's count and sum over both outcomes, and the
// count of rounds that ended with an error, at one scrape.
type tally struct {
	at          time.Time
	count, errs float64
	sum         float64 // seconds
}

// round is what the histogram gained between two scrapes: one round,
// normally (n says how many), its duration as the server timed it, and
// whether it ended with an error.
type round struct {
	end   time.Time // the scrape that saw it
	dur   time.Duration
	n     int
	errs  int
	start time.Time // end - dur: when the round started, within one poll
}

// roundWatch follows the server's rounds through its /metrics.
type roundWatch struct {
	url   string
	every time.Duration // the server's --lifecycle-every
	last  tally
	// lastStart is when the last round seen started (zero before one).
	lastStart time.Time
}

// poll is how often /metrics is read while a round is due. Each scrape
// also counts the sessions in the store, so the watch sleeps until the
// next round is due instead of polling all the time.
const poll = 20 * time.Millisecond

func newRoundWatch(ctx context.Context, url string, every time.Duration) (*roundWatch, error) {
	w := &roundWatch{url: url, every: every}
	t, err := scrapeRounds(ctx, url)
	if err != nil {
		return nil, err
	}
	w.last = t
	return w, nil
}

// next waits for the histogram to count at least one more round and
// returns it.
func (w *roundWatch) next(ctx context.Context) (round, error) {
	if !w.lastStart.IsZero() {
		// The ticker fires every period after the last round's start.
		due := w.lastStart.Add(w.every - 2*poll)
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return round{}, ctx.Err()
			case <-time.After(d):
			}
		}
	}
	deadline := time.Now().Add(w.every + time.Minute)
	for {
		t, err := scrapeRounds(ctx, w.url)
		if err != nil {
			return round{}, err
		}
		if t.count > w.last.count {
			n := int(t.count - w.last.count)
			r := round{end: t.at, n: n, errs: int(t.errs - w.last.errs),
				dur: time.Duration((t.sum - w.last.sum) / float64(n) * float64(time.Second))}
			r.start = r.end.Add(-r.dur)
			w.last, w.lastStart = t, r.start
			return r, nil
		}
		if time.Now().After(deadline) {
			return round{}, fmt.Errorf("no lifecycle round ended within %s", w.every+time.Minute)
		}
		select {
		case <-ctx.Done():
			return round{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// scrapeRounds reads the round histogram's _count and _sum (every
// outcome) from a Prometheus text exposition.
func scrapeRounds(ctx context.Context, url string) (tally, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return tally{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tally{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	t := tally{at: time.Now()}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, roundMetric+"_") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, roundMetric+"_count"):
			t.count += v
			if strings.Contains(name, `outcome="error"`) {
				t.errs += v
			}
		case strings.HasPrefix(name, roundMetric+"_sum"):
			t.sum += v
		}
	}
	if err := sc.Err(); err != nil {
		return tally{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	return t, nil
}
