// Command reconcile measures a lifecycle round of a real Airlock
// deployment holding 200 sessions spread over 4 provision nodes (issue
// 12), against the Docker work such a round cannot avoid, in one run:
//
//  1. The deployment: a real `airlock up` (the static binary, built by
//     this program, as a subprocess with a throwaway data directory),
//     whose own node is one of the nodes, and -nodes minus one more
//     `airlock provision` subprocesses on the same dockerd, enrolled with
//     a join token in a file as the README says, each with a session pool
//     of its own inside the default one (so that nodes launching at once
//     never pick the same subnet) and the egress proxy off (standard
//     isolation only). The server runs its rounds every -every (3s) and
//     allows the admin -sessions active sessions; each node's capacity
//     leaves room for its share. Then -sessions (200) sessions of the
//     minimal workspace (airlock/minimal: FROM scratch, the agent as
//     PID 1), launched through the api -workers at a time until ready;
//     the scheduler spreads them evenly over the nodes.
//
//  2. Round: the duration of each lifecycle round as the server itself
//     times it, read from its airlock_lifecycle_round_seconds histogram
//     on its /metrics (--server-metrics-listen): the growth of _sum
//     between two scrapes in which _count grew by one is that round's
//     duration, exactly. The scrapes are made every 20 ms only when a
//     round is due (the server's ticker fires a period after the last
//     start), since each scrape also counts the store's sessions. A round
//     is the whole Jobs.Round: node liveness, expiry of the 200 sessions,
//     pools, and the reconciliation proper, which on each node at once
//     lists the node's labelled containers and networks through its
//     mutual-TLS Docker API and looks each container's session up in the
//     store. The nodes share one engine here, so each lists all 200.
//
//  3. Baseline: right after each measured round (before the next is
//     due), the raw listing a round cannot avoid, in this process on the
//     Docker socket with the Docker Go SDK: for each node at once, the
//     labelled ContainerList (all states) then NetworkList, with the
//     filters the launcher sends (session label, deployment label).
//
//  4. Orphans, -injections (3) times: just after a round ends, behind
//     Airlock's back on the socket, the containers of -lost (5) of the
//     oldest ready sessions are force-removed (older than the server's
//     two-minute grace for launches in flight) and -ghosts (5) containers
//     and -ghost-nets (2) networks are created with the deployment's
//     labels for sessions no store knows. The next round must fail the
//     five as lost and remove the ghosts; the one after, the lost
//     sessions' networks. It is timed like the others; a round that
//     started before the injection was done (it takes about a second
//     here, hence the period of 3s) is not counted, and the checks wait
//     for the round after it. After each,
//     the state is checked through the api and the socket: a wrong state
//     fails the run.
//
// Target: round p50 / baseline p50 <= 3. A round does the baseline's
// lists through each node (TLS, the node's filtering of the answer) and
// then per-session work in the store; three times the raw lists leaves
// room for that, not for work that grows faster than the lists do. The
// report also gives the round's p95 as a share of the default period
// (5s), the figure the README says to watch.
//
// Run it with `go run ./bench/reconcile` (about five minutes, most of it
// launching). It prints a table and one line starting with "BENCH" for
// scripts; a missed target is reported, not an error. Everything it
// creates (the subprocesses, the sessions' containers and networks, the
// ghosts, temporary files) carries the deployment's or the run's label
// or lives in its temporary directory, and is removed at exit, also on
// failure or interrupt.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
)

// runLabel labels what this program creates on the socket itself.
const runLabel = "airlock.bench.run"

// targetRatio is the target of round p50 / baseline p50.
const targetRatio = 3.0

// defaultEvery is the server's default --lifecycle-every, which the
// round's p95 is reported against.
const defaultEvery = 5 * time.Second

type options struct {
	sessions, nodes, rounds, workers int
	every                            time.Duration
	injections, lost, ghosts, nets   int
	verbose, keepLog                 bool
}

func main() {
	var o options
	flag.IntVar(&o.sessions, "sessions", 200, "sessions of the minimal workspace")
	flag.IntVar(&o.nodes, "nodes", 4, "provision nodes: airlock up's and this many minus one `airlock provision`")
	flag.IntVar(&o.rounds, "rounds", 20, "measured rounds")
	flag.IntVar(&o.workers, "workers", 6, "launches at once")
	flag.DurationVar(&o.every, "every", 3*time.Second, "the server's --lifecycle-every")
	flag.IntVar(&o.injections, "injections", 3, "orphan injections, each measured on the round after it")
	flag.IntVar(&o.lost, "lost", 5, "containers removed behind Airlock's back, per injection")
	flag.IntVar(&o.ghosts, "ghosts", 5, "containers of unknown sessions created, per injection")
	flag.IntVar(&o.nets, "ghost-nets", 2, "networks of unknown sessions created, per injection")
	flag.BoolVar(&o.verbose, "v", false, "print every round to stderr")
	flag.BoolVar(&o.keepLog, "keep-log", false, "keep the log of `airlock up` and print its path")
	flag.Parse()
	if o.sessions < 1 || o.nodes < 1 || o.rounds < 1 || o.workers < 1 || o.every < 500*time.Millisecond ||
		o.injections < 0 || o.lost < 0 || o.ghosts < 0 || o.nets < 0 || o.injections*o.lost >= o.sessions || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench/reconcile: -sessions, -nodes, -rounds and -workers must be at least 1, -every at least 500ms, "+
			"the injection counts not negative and fewer lost than sessions; no arguments")
		os.Exit(2)
	}
	benchmain.Run("reconcile", func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}
