package main

import (
	"bufio"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/signal"
)

// memStats is what the relay's process says of its memory: the Go
// runtime's figures beside the RSS the parent reads from /proc, so that
// what is live (heap in use, stacks) can be told from what the collector
// lets grow before its next cycle (GOGC) and what it has not yet handed
// back to the kernel.
type memStats struct {
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapIdle     uint64 `json:"heap_idle"`
	HeapReleased uint64 `json:"heap_released"`
	StackInuse   uint64 `json:"stack_inuse"`
	NextGC       uint64 `json:"next_gc"`
	Sys          uint64 `json:"sys"`
	NumGC        uint32 `json:"num_gc"`
	Goroutines   int    `json:"goroutines"`
	// GOGC is the collector's setting in the relay's process.
	GOGC string `json:"gogc"`
	// GOMEMLIMIT is its soft memory limit, "none" when unset.
	GOMEMLIMIT string `json:"gomemlimit"`
	// Live and LiveStack are the heap and the stacks in use right after
	// two collections forced once the other figures are taken (the
	// collector shrinks a stack by half at most once a cycle): the
	// connections' own memory, without garbage. StackScanned is how much
	// of the stacks the last collection scanned: the part in use, the
	// rest of each stack is room to grow.
	Live         uint64 `json:"live_heap_inuse"`
	LiveStack    uint64 `json:"live_stack_inuse"`
	StackScanned uint64 `json:"stack_scanned"`
}

// serve is the child: the relay behind TLS, with the bundle in certDir,
// on a loopback port it prints. Then it answers each line "stats [path]"
// on stdin with a line of memStats as JSON (writing a heap profile to
// path, when given), until its stdin closes.
func serve(keyHex, certDir string, profiled bool) error {
	if profiled {
		// Fine enough to see each connection's allocations, not only
		// one in every 512 KiB.
		runtime.MemProfileRate = 1024
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	signer, err := auth.NewSigner(key, nil)
	if err != nil {
		return err
	}
	tlsCfg, err := pki.PublicServerTLSConfig(certDir, nil)
	if err != nil {
		return err
	}
	relay := signal.New(signal.Options{Verifier: signer})
	defer relay.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: relay, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	fmt.Println(ln.Addr().String())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, path, _ := strings.Cut(in.Text(), " ")
		if cmd == "gcs" {
			// The collections so far, and nothing more: no collection
			// is forced, no world stopped.
			sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
			metrics.Read(sample)
			fmt.Println(sample[0].Value.Uint64())
			continue
		}
		if cmd != "stats" {
			return fmt.Errorf("unknown command %q on stdin", in.Text())
		}
		st, err := readMemStats(path)
		if err != nil {
			return err
		}
		b, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode memory figures: %w", err)
		}
		fmt.Println(string(b))
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return srv.Close()
}

// readMemStats takes the runtime's figures as they are, then forces a
// collection for the live heap, and writes the heap profile to path if
// it is not empty.
func readMemStats(path string) (memStats, error) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st := memStats{
		HeapInuse: m.HeapInuse, HeapAlloc: m.HeapAlloc, HeapIdle: m.HeapIdle, HeapReleased: m.HeapReleased,
		StackInuse: m.StackInuse, NextGC: m.NextGC, Sys: m.Sys, NumGC: m.NumGC,
		Goroutines: runtime.NumGoroutine(), GOGC: cmp.Or(os.Getenv("GOGC"), "100"), GOMEMLIMIT: cmp.Or(os.Getenv("GOMEMLIMIT"), "none"),
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	st.Live, st.LiveStack = m.HeapInuse, m.StackInuse
	sample := []metrics.Sample{{Name: "/gc/scan/stack:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		st.StackScanned = sample[0].Value.Uint64()
	}
	if path == "" {
		return st, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return st, fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return st, fmt.Errorf("write heap profile %s: %w", path, err)
	}
	return st, f.Close()
}
