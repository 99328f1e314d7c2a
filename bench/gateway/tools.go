package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// tools finds wrk and nginx, installing them (Debian, root) when missing.
func tools() (wrk, nginx string, err error) {
	find := func() (string, string) {
		w, _ := exec.LookPath("wrk")
		n, _ := exec.LookPath("nginx")
		if n == "" {
			if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
				n = "/usr/sbin/nginx"
			}
		}
		return w, n
	}
	if wrk, nginx = find(); wrk != "" && nginx != "" {
		return wrk, nginx, nil
	}
	if _, aerr := exec.LookPath("apt-get"); os.Geteuid() != 0 || aerr != nil {
		return "", "", errors.New("this benchmark needs wrk and nginx: install them (Debian: apt-get install wrk nginx-light)")
	}
	fmt.Fprintln(os.Stderr, "bench/gateway: installing wrk and nginx-light")
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "-q", "wrk", "nginx-light")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if _, err := install(); err != nil {
		// The package lists may be missing on a fresh machine.
		if b, err := exec.Command("apt-get", "update", "-q").CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("apt-get update: %v\n%s", err, b)
		}
		if b, err := install(); err != nil {
			return "", "", fmt.Errorf("apt-get install wrk nginx-light: %v\n%s", err, b)
		}
	}
	// Debian starts the packaged nginx on port 80; this run starts its own.
	_ = exec.Command("nginx", "-s", "stop").Run()
	if wrk, nginx = find(); wrk == "" || nginx == "" {
		return "", "", errors.New("wrk or nginx still missing after apt-get install")
	}
	return wrk, nginx, nil
}

// nginxConf proxies everything to the backend over kept-alive HTTP/1.1,
// as an operator would put nginx in front of a service.
const nginxConf = `daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log %[1]s/nginx-access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	upstream backend {
		server %[2]s;
		keepalive 256;
	}
	server {
		listen %[3]s ssl;
		ssl_certificate %[1]s/server/cert.pem;
		ssl_certificate_key %[1]s/server/key.pem;
		ssl_protocols TLSv1.3;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Forwarded-For $remote_addr;
		}
	}
}
`

// startNginx runs nginx on a free loopback port until stop.
func startNginx(ctx context.Context, nginx, dir, backend string) (string, int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, backend, addr), 0o644); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, nginx, "-c", conf, "-p", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start nginx: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			b, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
			return "", 0, nil, fmt.Errorf("nginx did not listen on %s: %s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result is what one wrk run measured.
type result struct {
	rps      float64
	requests int64
	p50      time.Duration
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reCount   = regexp.MustCompile(`(\d+) requests in`)
	reP50     = regexp.MustCompile(`\n\s+50%\s+([0-9.]+)(us|ms|s)\b`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: (.*)`)
)

// runWrk loads url with the token and reads wrk's report. Any error
// answer or socket error fails the run: a proxy that refuses work would
// look fast.
func runWrk(ctx context.Context, wrk, url, token string, threads, conns int, d time.Duration) (result, error) {
	secs := max(int(d/time.Second), 1)
	cmd := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs)+"s",
		"--latency", "-H", "Authorization: Bearer "+token, url)
	b, err := cmd.CombinedOutput()
	text := string(b)
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, text)
	}
	if m := reNon2xx.FindStringSubmatch(text); m != nil {
		return result{}, fmt.Errorf("%s error answers:\n%s", m[1], text)
	}
	if m := reSockErr.FindStringSubmatch(text); m != nil {
		return result{}, fmt.Errorf("socket errors %s:\n%s", m[1], text)
	}
	m := reRPS.FindStringSubmatch(text)
	l := reP50.FindStringSubmatch(text)
	n := reCount.FindStringSubmatch(text)
	if m == nil || l == nil || n == nil {
		return result{}, fmt.Errorf("cannot read wrk's report:\n%s", text)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	v, _ := strconv.ParseFloat(l[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[l[2]]
	count, _ := strconv.ParseInt(n[1], 10, 64)
	return result{rps: rps, requests: count, p50: time.Duration(v * float64(unit))}, nil
}

// client trusts the run's CA.
func client(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the run's CA certificate does not parse")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}
