package main

import "github.com/airlock-rbi/airlock/internal/apiclient"

// poolState is a pool as the tests read `airlock pool ls -o json`; the
// command itself moved to internal/cli.
type poolState = apiclient.Pool
