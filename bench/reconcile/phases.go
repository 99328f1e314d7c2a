package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/internal/airlock"
)

// orphanGrace is the server's lifecycle.Config OrphanGrace default: a
// session missing its container is failed only when older than this.
const orphanGrace = 2 * time.Minute

// bench is one run's deployment and what measures it.
type bench struct {
	o          options
	api        *airlockup.Client
	socket     *client.Client
	deployment string
	runID      string
	watch      *roundWatch
}

// result is what a run measured.
type result struct {
	launched   time.Duration
	relaunched int
	// rounds and base are the steady rounds and the baseline after each.
	rounds, base []time.Duration
	// errRounds counts steady rounds that ended with an error.
	errRounds int
	// seen is how many containers and networks one node's list held.
	seenContainers, seenNetworks int
	// orphan are the rounds after an injection; overlapped counts the
	// injections whose round started before the injection was done.
	orphan     []time.Duration
	overlapped int
	injectTook []time.Duration
	// wrong lists what the checks after the orphan rounds found wrong.
	wrong   []string
	perNode map[string]int
}

// measure runs the steady phase, then the orphan injections.
func (b *bench) measure(ctx context.Context, ready []session) (result, error) {
	var res result
	// Two rounds unmeasured: the first after the launches settles what
	// they left (connections to every node, the store's caches).
	for range 2 {
		if _, err := b.watch.next(ctx); err != nil {
			return res, err
		}
	}
	for i := range b.o.rounds {
		r, err := b.watch.next(ctx)
		if err != nil {
			return res, err
		}
		d, cs, ns, err := baseline(ctx, b.socket, b.deployment, b.o.nodes)
		if err != nil {
			return res, err
		}
		res.rounds, res.base = append(res.rounds, r.dur), append(res.base, d)
		res.errRounds += r.errs
		res.seenContainers, res.seenNetworks = cs, ns
		b.trace("steady %2d: round %8.3f ms (%d, %d errors)  baseline %8.3f ms (%d containers, %d networks)",
			i, ms(r.dur), r.n, r.errs, ms(d), cs, ns)
	}
	// The oldest sessions go first: they are past the grace soonest.
	slices.SortFunc(ready, func(a, b session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range b.o.injections {
		victims := ready[i*b.o.lost : (i+1)*b.o.lost]
		if err := b.orphanRound(ctx, i, victims, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// orphanRound injects orphans just after a round, times the round after
// and checks the state after it and after the next.
func (b *bench) orphanRound(ctx context.Context, i int, victims []session, res *result) error {
	if len(victims) > 0 {
		if wait := time.Until(victims[len(victims)-1].CreatedAt.Add(orphanGrace + 5*time.Second)); wait > 0 {
			fmt.Fprintf(os.Stderr, "bench/reconcile: waiting %s until the victims are past the grace of launches in flight\n", wait.Round(time.Second))
			time.Sleep(wait)
		}
	}
	// Just after a round, with most of a period before the next.
	var r round
	for {
		var err error
		if r, err = b.watch.next(ctx); err != nil {
			return err
		}
		if time.Until(r.start.Add(b.o.every)) > 2*b.o.every/3 {
			break
		}
	}
	inj, err := inject(ctx, b.socket, b.deployment, b.runID, victims, b.o.ghosts, b.o.nets)
	if err != nil {
		return err
	}
	done := time.Now()
	res.injectTook = append(res.injectTook, inj.took)
	r, err = b.watch.next(ctx)
	if err != nil {
		return err
	}
	// r.start is late by at most a poll; a round that may have started
	// before the injection ended is not counted.
	overlapped := !r.start.Add(-poll).After(done)
	b.trace("orphans %d: round %8.3f ms (%d, %d errors), injection %.1f ms, overlapped %t", i, ms(r.dur), r.n, r.errs, ms(inj.took), overlapped)
	if overlapped {
		// It may have seen part of the injection: the next one is the
		// first to see all of it, and is not timed either.
		res.overlapped++
		if r, err = b.watch.next(ctx); err != nil {
			return err
		}
	} else {
		res.orphan = append(res.orphan, r.dur)
	}
	// That round must have failed the lost and removed the ghosts...
	sessions, err := listSessions(ctx, b.api)
	if err != nil {
		return err
	}
	wrong, err := check(ctx, b.socket, b.deployment, sessions, inj, false)
	if err != nil {
		return err
	}
	// ...and the next, the lost sessions' networks.
	if _, err := b.watch.next(ctx); err != nil {
		return err
	}
	if sessions, err = listSessions(ctx, b.api); err != nil {
		return err
	}
	after, err := check(ctx, b.socket, b.deployment, sessions, inj, true)
	if err != nil {
		return err
	}
	for _, w := range wrong {
		res.wrong = append(res.wrong, fmt.Sprintf("injection %d, after the first round: %s", i, w))
	}
	for _, w := range after {
		if !slices.Contains(wrong, w) {
			res.wrong = append(res.wrong, fmt.Sprintf("injection %d, after the second round: %s", i, w))
		}
	}
	return nil
}

// spread is how many active sessions each node holds, by name.
func spread(ctx context.Context, api *airlockup.Client, nodes []node) (map[string]int, error) {
	sessions, err := listSessions(ctx, api)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, n := range nodes {
		names[n.ID] = n.Name
	}
	out := map[string]int{}
	for _, s := range sessions {
		if slices.Contains(airlock.ActiveStates, airlock.SessionState(s.State)) {
			out[names[s.Node]]++
		}
	}
	return out, nil
}

func (b *bench) trace(format string, args ...any) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func joinLines(s []string) string { return strings.Join(s, "\n  ") }
