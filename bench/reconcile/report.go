package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/stats"
)

// report prints the table and the BENCH line.
func report(out io.Writer, o options, res result) {
	names := make([]string, 0, len(res.perNode))
	for n := range res.perNode {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(out, "Launched %d sessions in %s (%d launched again)", o.sessions, res.launched.Round(time.Second), res.relaunched)
	fmt.Fprintf(out, "; active sessions per node at the end:")
	for _, n := range names {
		fmt.Fprintf(out, " %s %d", n, res.perNode[n])
	}
	fmt.Fprintf(out, "\nEach node lists %d containers and %d networks (the nodes share one engine)\n\n", res.seenContainers, res.seenNetworks)

	p := func(ds []time.Duration, q float64) float64 { return stats.MS(stats.Percentile(ds, q)) }
	fmt.Fprintf(out, "  %-52s %5s %9s %9s %9s\n", "ms", "n", "p50", "p95", "max")
	row := func(name string, ds []time.Duration) {
		if len(ds) == 0 {
			fmt.Fprintf(out, "  %-52s %5d %9s %9s %9s\n", name, 0, "-", "-", "-")
			return
		}
		fmt.Fprintf(out, "  %-52s %5d %9.1f %9.1f %9.1f\n", name, len(ds), p(ds, 50), p(ds, 95), p(ds, 100))
	}
	row("round, steady (server's histogram)", res.rounds)
	row(fmt.Sprintf("baseline: %d× container+network list on the socket", o.nodes), res.base)
	row(fmt.Sprintf("round after injecting %d lost, %d+%d ghosts", o.lost, o.ghosts, o.nets), res.orphan)
	row("  the injection itself (socket)", res.injectTook)
	fmt.Fprintln(out)

	ratio := p(res.rounds, 50) / p(res.base, 50)
	ok := ratio <= targetRatio
	fmt.Fprintf(out, "  round p50 / baseline p50: %.2f (target <= %.1f): %s\n", ratio, targetRatio, stats.Verdict(ok))
	fmt.Fprintf(out, "  round p95 as a share of the default period (%s): %.1f%%\n", defaultEvery, 100*p(res.rounds, 95)/stats.MS(defaultEvery))
	if res.errRounds > 0 {
		fmt.Fprintf(out, "  %d steady rounds ended with an error (see the server's log)\n", res.errRounds)
	}
	if res.overlapped > 0 {
		fmt.Fprintf(out, "  %d of %d injections overlapped a round and are not timed\n", res.overlapped, o.injections)
	}
	state := "right"
	if len(res.wrong) > 0 {
		state = "WRONG"
	}
	fmt.Fprintf(out, "  state after the orphan rounds (lost sessions failed as lost, ghosts and networks gone): %s\n\n", state)
	orphanP50 := 0.0
	if len(res.orphan) > 0 {
		orphanP50 = p(res.orphan, 50)
	}
	fmt.Fprintf(out, "BENCH reconcile sessions=%d nodes=%d rounds=%d round_p50_ms=%.1f round_p95_ms=%.1f round_max_ms=%.1f baseline_p50_ms=%.1f ratio=%.2f orphan_round_p50_ms=%.1f orphan_rounds=%d error_rounds=%d state=%s result=%s\n",
		o.sessions, o.nodes, len(res.rounds), p(res.rounds, 50), p(res.rounds, 95), p(res.rounds, 100), p(res.base, 50), ratio,
		orphanP50, len(res.orphan), res.errRounds, state, stats.Verdict(ok))
}
