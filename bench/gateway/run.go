package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/proc"
	"github.com/airlock-rbi/airlock/bench/internal/stats"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/store"
)

type load struct {
	conns, threads int
	dur, latDur    time.Duration
	rounds         int
}

// target is one thing wrk loads; front is the CPU the processes wrk
// talks to (the proxy's, or the backend's for direct) have used so far,
// back the backend's behind a proxy (nil when there is none).
type target struct {
	name, url   string
	front, back func() time.Duration
}

// cpu is front and back.
func (t target) cpu() (front, back time.Duration) {
	front = t.front()
	if t.back != nil {
		back = t.back()
	}
	return front, back
}

func run(ctx context.Context, out io.Writer, l load) error {
	wrk, nginx, err := tools()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "airlock-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx's workers run as nobody and open nothing here; the master
	// reads the key as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	ca, err := pki.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		return err
	}
	b, err := ca.Issue(pki.IssueRequest{Role: pki.RoleInfra, Name: "airlock-server", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		return err
	}
	if err := pki.WriteBundle(filepath.Join(dir, "server"), b); err != nil {
		return err
	}
	token, err := makeToken(ctx, dir)
	if err != nil {
		return err
	}

	be, err := startChild(ctx, "backend", dir, "")
	if err != nil {
		return err
	}
	defer be.stop()
	plainAddr, directAddr, ok := strings.Cut(be.addr, " ")
	if !ok {
		return fmt.Errorf("backend printed %q, want two addresses", be.addr)
	}
	gw, err := startChild(ctx, "gateway", dir, plainAddr)
	if err != nil {
		return err
	}
	defer gw.stop()
	gwRemote, gwLocal, ok := strings.Cut(gw.addr, " ")
	if !ok {
		return fmt.Errorf("gateway printed %q, want two addresses", gw.addr)
	}
	ngAddr, ngPID, stopNginx, err := startNginx(ctx, nginx, dir, plainAddr)
	if err != nil {
		return err
	}
	defer stopNginx()

	cpuOf := func(pids ...int) func() time.Duration {
		return func() time.Duration {
			var d time.Duration
			for _, p := range pids {
				d += proc.CPU(p)
				for _, c := range proc.Children(p) {
					d += proc.CPU(c)
				}
			}
			return d
		}
	}
	targets := []target{
		{"direct", "https://" + directAddr + "/ping", cpuOf(be.pid), nil},
		{"nginx", "https://" + ngAddr + "/ping", cpuOf(ngPID), cpuOf(be.pid)},
		{"gateway", "https://" + gwRemote + "/ping", cpuOf(gw.pid), cpuOf(be.pid)},
		{"gateway-in-process", "https://" + gwLocal + "/ping", cpuOf(gw.pid), nil},
	}
	if err := check(ctx, b.CACertPEM, targets, token); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrk: %d threads, %d connections, %s a run; latency at 1 connection, %s a run; %d rounds\n\n",
		l.threads, l.conns, l.dur, l.latDur, l.rounds)
	rps := map[string][]float64{}
	p50 := map[string][]time.Duration{}
	cpuPer := map[string][]time.Duration{}   // front and backend
	frontPer := map[string][]time.Duration{} // the proxy alone
	for round := range l.rounds {
		for _, tg := range targets {
			front0, back0 := tg.cpu()
			tp, err := runWrk(ctx, wrk, tg.url, token, l.threads, l.conns, l.dur)
			if err != nil {
				return fmt.Errorf("round %d, %s throughput: %w", round+1, tg.name, err)
			}
			front1, back1 := tg.cpu()
			n := time.Duration(max(tp.requests, 1))
			cpuPer[tg.name] = append(cpuPer[tg.name], (front1-front0+back1-back0)/n)
			frontPer[tg.name] = append(frontPer[tg.name], (front1-front0)/n)
			lat, err := runWrk(ctx, wrk, tg.url, token, 1, 1, l.latDur)
			if err != nil {
				return fmt.Errorf("round %d, %s latency: %w", round+1, tg.name, err)
			}
			rps[tg.name] = append(rps[tg.name], tp.rps)
			p50[tg.name] = append(p50[tg.name], lat.p50)
			fmt.Fprintf(out, "round %d %-18s %7.0f req/s (p50 %6.3f ms at %d conns, %5.1f µs CPU/request, %5.1f the front's)   p50 %6.3f ms at 1 conn\n",
				round+1, tg.name, tp.rps, stats.MS(tp.p50), l.conns, float64(cpuPer[tg.name][round])/1e3, float64(frontPer[tg.name][round])/1e3, stats.MS(lat.p50))
		}
	}
	med := func(name string) (float64, time.Duration, time.Duration) {
		return median(rps[name]), medianD(p50[name]), medianD(cpuPer[name])
	}
	dRPS, dP50, _ := med("direct")
	nRPS, nP50, _ := med("nginx")
	gRPS, gP50, _ := med("gateway")
	iRPS, iP50, _ := med("gateway-in-process")
	ratio, iRatio := gRPS/nRPS, iRPS/nRPS
	gAdded, nAdded, iAdded := stats.MS(gP50-dP50), stats.MS(nP50-dP50), stats.MS(iP50-dP50)
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "median of rounds\treq/s\tCPU/request (front + backend)\tthe front's\tp50 at 1 conn\tadded over direct\t")
	for _, tg := range targets {
		r, p, c := med(tg.name)
		added := ""
		if tg.name != "direct" {
			added = fmt.Sprintf("%+.3f ms", stats.MS(p-dP50))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f µs\t%.1f µs\t%.3f ms\t%s\t\n", tg.name, r, float64(c)/1e3, float64(medianD(frontPer[tg.name]))/1e3, stats.MS(p), added)
	}
	_ = tw.Flush()
	fmt.Fprintln(out, "\ngateway: forwarding to the backend process, as a split deployment; in-process: serving the route itself, as all-in-one")
	fmt.Fprintf(out, "throughput gateway/nginx %.2f, in-process/nginx %.2f (target >= %.1f) %s\n", ratio, iRatio, targetRatio, stats.Verdict(ratio >= targetRatio))
	fmt.Fprintf(out, "gateway added p50 %.3f ms, in-process %.3f ms, nginx %.3f ms (target <= %.1f ms) %s\n", gAdded, iAdded, nAdded, targetAddedMS, stats.Verdict(gAdded <= targetAddedMS))
	fmt.Fprintf(out, "BENCH gateway rps=%.0f inproc_rps=%.0f nginx_rps=%.0f direct_rps=%.0f ratio=%.3f inproc_ratio=%.3f added_p50_ms=%.3f inproc_added_p50_ms=%.3f nginx_added_p50_ms=%.3f\n",
		gRPS, iRPS, nRPS, dRPS, ratio, iRatio, gAdded, iAdded, nAdded)
	return nil
}

// makeToken makes the user and the API token every request carries, in
// the store the gateway child opens.
func makeToken(ctx context.Context, dir string) (string, error) {
	st, err := store.Open(ctx, filepath.Join(dir, "airlock.db"))
	if err != nil {
		return "", err
	}
	defer st.Close()
	signer, err := auth.NewSigner(make([]byte, 32), nil)
	if err != nil {
		return "", err
	}
	a, err := api.New(api.Options{Store: st, Driver: noDriver{}, Signer: signer, PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		return "", err
	}
	defer a.Close()
	u, err := a.CreateUser(ctx, "bench", "bench-password-1", airlock.RoleUser, 0)
	if err != nil {
		return "", err
	}
	tok, err := auth.NewToken(auth.KindAPI)
	if err != nil {
		return "", err
	}
	if err := st.CreateAPIToken(ctx, &airlock.APIToken{ID: tok.ID, UserID: u.ID, Name: "bench", Hash: tok.Hash(), CreatedAt: airlock.Now()}); err != nil {
		return "", err
	}
	return tok.String(), nil
}

type childProc struct {
	addr string
	pid  int
	stop func()
}

// startChild runs this program in a role and reads its address line.
func startChild(ctx context.Context, role, dir, backend string) (*childProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, dirEnv+"="+dir, backendEnv+"="+backend)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s: %w", role, err)
	}
	stop := func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("the %s's address: %w", role, err)
	}
	return &childProc{addr: strings.TrimSpace(line), pid: cmd.Process.Pid, stop: stop}, nil
}

// check makes sure each target answers the load request, and that the
// gateway refuses it without the token: the route is authenticated.
func check(ctx context.Context, caPEM []byte, targets []target, token string) error {
	hc, err := client(caPEM)
	if err != nil {
		return err
	}
	get := func(url, tok string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, tg := range targets {
		code, body, err := get(tg.url, token)
		if err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
		if code != 200 || body != "ok\n" {
			return fmt.Errorf("%s answered %d %q, want 200 \"ok\"", tg.name, code, body)
		}
	}
	for _, gw := range targets[2:] {
		if code, _, err := get(gw.url, ""); err != nil || code != 401 {
			return fmt.Errorf("%s without a token answered %d (%v), want 401", gw.name, code, err)
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianD(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
