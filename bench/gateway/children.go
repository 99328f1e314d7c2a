package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/gateway"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/store"
)

// Children read these from their environment.
const (
	dirEnv     = "AIRLOCK_BENCH_GATEWAY_DIR"     // the run's directory
	backendEnv = "AIRLOCK_BENCH_GATEWAY_BACKEND" // the backend's plain address
)

// child serves its role until its stdin closes, after printing its
// address(es) on one line.
func child(role string) error {
	dir := os.Getenv(dirEnv)
	tlsCfg, err := pki.PublicServerTLSConfig(filepath.Join(dir, "server"), nil)
	if err != nil {
		return err
	}
	switch role {
	case "backend":
		return backend(tlsCfg)
	case "gateway":
		return frontGateway(dir, tlsCfg)
	}
	return fmt.Errorf("unknown role %q", role)
}

// ping is the trivial route: what every load request gets.
func ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

func backend(tlsCfg *tls.Config) error {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	direct, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", ping)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// wrk drops connections mid-handshake as a run ends: not news.
	ts := &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = hs.Serve(plain) }()
	go func() { _ = ts.ServeTLS(direct, "", "") }()
	fmt.Println(plain.Addr().String(), direct.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = hs.Close()
	return ts.Close()
}

// frontGateway is the gateway as `airlock server` builds it, with one
// route to the backend and the api's authenticator on the run's store.
func frontGateway(dir string, tlsCfg *tls.Config) error {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "airlock.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	signer, err := auth.NewSigner(make([]byte, 32), nil)
	if err != nil {
		return err
	}
	a, err := api.New(api.Options{Store: st, Driver: noDriver{}, Signer: signer})
	if err != nil {
		return err
	}
	defer a.Close()
	remote, err := gateway.Remote("http://"+os.Getenv(backendEnv), gateway.RemoteOptions{})
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "gateway-access.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// Two gateways: one forwarding to the backend process (a split
	// deployment's wiring), one serving the route itself (all-in-one's,
	// where the api is in the gateway's process).
	access := slog.New(slog.NewJSONHandler(logf, nil))
	var addrs []string
	for _, svc := range []http.Handler{remote, http.HandlerFunc(ping)} {
		gw, err := gateway.New(gateway.Config{
			Routes:    []gateway.Route{{Pattern: "GET /ping", Policy: gateway.User, Service: "backend"}},
			Services:  map[string]http.Handler{"backend": svc},
			Auth:      a,
			AccessLog: access,
		})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := gateway.NewServer(gw, tlsCfg, log.New(io.Discard, "", 0), gateway.Limits{})
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		defer srv.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	// AIRLOCK_BENCH_GATEWAY_CPUPROFILE=FILE profiles the gateway's CPU
	// for the whole run, to see where its time goes.
	if path := os.Getenv("AIRLOCK_BENCH_GATEWAY_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Println(strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	// AIRLOCK_BENCH_GATEWAY_MEMPROFILE=FILE writes what the gateway
	// allocated over the run (go tool pprof -sample_index=alloc_space).
	if path := os.Getenv("AIRLOCK_BENCH_GATEWAY_MEMPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return nil
}

// noDriver: the bench launches nothing.
type noDriver struct{}

func (noDriver) Start(context.Context, string, airlock.ContainerSpec) (string, error) {
	return "", fmt.Errorf("the gateway bench launches nothing")
}
func (noDriver) Remove(context.Context, string, string, time.Duration) error { return nil }
func (noDriver) Halt(context.Context, string, string, time.Duration) error   { return nil }
func (noDriver) Resume(context.Context, string, string) error                { return nil }
