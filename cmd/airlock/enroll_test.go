package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// enrollFreePort returns a loopback port that was free a moment ago.
func enrollFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func enrollReadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// enrollGet does a raw HTTP/1.1 GET over a TLS connection made with cert
// and returns the status line, or the error of the handshake or the read.
// With TLS 1.3 the client's handshake completes before the server has
// judged the client certificate, so a refusal may only surface on read.
func enrollGet(addr string, roots *x509.CertPool, cert tls.Certificate) (string, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert},
		ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		return "", fmt.Errorf("handshake: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// nodeLine returns the `node ls` line of name, or "".
func nodeLine(ls, name string) string {
	for _, line := range strings.Split(ls, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return line
		}
	}
	return ""
}

// TestNodeEnrollmentAndRevocation enrolls a second provision node with a
// single-use join token read from a file, checks its certificate and that
// the isolation level it could not prove was dropped, refuses a token on
// argv, a token whose CA fingerprint is wrong, the used token again, an
// expired one, one whose capacity cap the node exceeds and a revoked one,
// then removes the node: its heartbeat must be refused (it stops) and its
// certificate refused at the handshake.
func TestNodeEnrollmentAndRevocation(t *testing.T) {
	env := startUp(t)
	ctx := context.Background()
	dir := t.TempDir()
	caPEM, err := os.ReadFile(filepath.Join(env.data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	serverURL, err := url.Parse(env.server)
	if err != nil {
		t.Fatal(err)
	}

	// docker-env for the local node.
	exports := env.cli(t, "node", "docker-env", "local")
	for _, want := range []string{"export DOCKER_HOST=tcp://127.0.0.1:", "export DOCKER_TLS_VERIFY=1\n", "export DOCKER_CERT_PATH=/"} {
		if !strings.Contains(exports+"\n", want) {
			t.Errorf("node docker-env local: no %q in\n%s", want, exports)
		}
	}
	for _, line := range strings.Split(exports, "\n") {
		if p, ok := strings.CutPrefix(line, "export DOCKER_CERT_PATH="); ok {
			for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
				if _, err := os.Stat(filepath.Join(p, f)); err != nil {
					t.Errorf("docker-env: %v", err)
				}
			}
		}
	}

	// joinToken creates a token with the CLI; stdout's first line is the
	// token (the rest of the output, stderr's, describes it).
	joinToken := func(args ...string) string {
		t.Helper()
		out := env.cli(t, append([]string{"server", "join-token"}, args...)...)
		tok, _, _ := strings.Cut(out, "\n")
		if !strings.HasPrefix(tok, "ALJT-1-") {
			t.Fatalf("join token: %q", out)
		}
		return tok
	}
	token := joinToken("--uses", "1", "--isolation", "standard,sandboxed")
	config := filepath.Join(dir, "provision.yaml")
	if err := os.WriteFile(config, []byte("images: [airlock/minimal:latest]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	provisionArgs := func(tlsDir, name, port string, extra ...string) []string {
		return append([]string{"provision", "--tls-dir", tlsDir, "--config", config, "--server", env.server,
			"--name", name, "--advertise", "https://127.0.0.1:" + port,
			"--listen", "127.0.0.1:" + port, "--metrics-listen", ""}, extra...)
	}
	// provision starts a node with the token in a file, as the README says.
	provision := func(ctx context.Context, tlsDir, tok, name, port string, out io.Writer, extra ...string) int {
		file := filepath.Join(dir, name+".token")
		if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return Run(ctx, provisionArgs(tlsDir, name, port, append(extra, "--token-file", file)...), out, out)
	}

	// A token on the command line is refused before anything is sent.
	var argvOut syncBuffer
	argvDir := filepath.Join(dir, "argv")
	if code := Run(ctx, provisionArgs(argvDir, "argv", enrollFreePort(t), "--token", token), &argvOut, &argvOut); code == 0 ||
		!strings.Contains(argvOut.String(), "--token is refused") || !strings.Contains(argvOut.String(), "--token-file FILE") ||
		!strings.Contains(argvOut.String(), "AIRLOCK_JOIN_TOKEN") {
		t.Errorf("provision --token on argv: exit %d: %s", code, argvOut.String())
	}
	t.Logf("argv token: %s", strings.TrimSpace(argvOut.String()))
	if _, err := os.Stat(filepath.Join(argvDir, "cert.pem")); err == nil {
		t.Error("a join with the token on argv wrote a certificate")
	}

	// A token whose fingerprint is not the CA's is refused before the
	// secret is sent.
	parts := strings.Split(token, "-")
	if len(parts) != 4 || len(parts[2]) != 64 {
		t.Fatalf("join token layout: %q", token)
	}
	fp := []byte(parts[2])
	if fp[0] == '0' { // another hex digit
		fp[0] = '1'
	} else {
		fp[0] = '0'
	}
	wrong := strings.Join([]string{parts[0], parts[1], string(fp), parts[3]}, "-")
	var wrongOut syncBuffer
	wrongDir := filepath.Join(dir, "wrong")
	// This one comes from the environment, the other way to pass a token.
	t.Setenv("AIRLOCK_JOIN_TOKEN", wrong)
	code := Run(ctx, provisionArgs(wrongDir, "wrong", enrollFreePort(t)), &wrongOut, &wrongOut)
	os.Unsetenv("AIRLOCK_JOIN_TOKEN")
	if code == 0 ||
		!strings.Contains(wrongOut.String(), "fingerprint") {
		t.Errorf("join with a wrong fingerprint: exit %d: %s", code, wrongOut.String())
	}
	t.Logf("wrong fingerprint: %s", strings.TrimSpace(wrongOut.String()))
	if _, err := os.Stat(filepath.Join(wrongDir, "cert.pem")); err == nil {
		t.Error("a refused join wrote a certificate")
	}

	// The second node joins.
	tlsDir := filepath.Join(dir, "second")
	port := enrollFreePort(t)
	nodeCtx, stopNode := context.WithCancel(ctx)
	var nodeOut syncBuffer
	nodeDone := make(chan int, 1)
	// It asks for sandboxed too, which the token allows but this node
	// cannot prove (no runsc runtime allowed by its policy): dropped.
	go func() {
		nodeDone <- provision(nodeCtx, tlsDir, token, "second", port, &nodeOut, "--isolation", "standard", "--isolation", "sandboxed")
	}()
	nodeStopped := false
	t.Cleanup(func() {
		stopNode()
		if nodeStopped {
			return
		}
		select {
		case <-nodeDone:
		case <-time.After(15 * time.Second):
			t.Errorf("the second node did not stop: %s", nodeOut.String())
		}
	})
	var line string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, code := env.try("node", "ls")
		// The server records the node before the node writes its bundle:
		// wait for both, and for the node to listen.
		if line = nodeLine(out, "second"); code == 0 && strings.Contains(" "+line+" ", " ready ") &&
			strings.Contains(nodeOut.String(), "provision node listening") {
			break
		}
		select {
		case code := <-nodeDone:
			nodeStopped = true
			t.Fatalf("the second node exited %d: %s", code, nodeOut.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("node ls does not show second ready (or it does not listen) after 30s: %q\n%s", line, nodeOut.String())
		}
	}
	if !strings.Contains(line, "https://127.0.0.1:"+port) {
		t.Errorf("node ls: second's URL: %q", line)
	}
	if f := strings.Fields(line); len(f) < 5 || f[4] != "standard" {
		t.Errorf("node ls: second advertises %q, want standard only (sandboxed unproved)", line)
	}
	if out := nodeOut.String(); !strings.Contains(out, "isolation level not advertised") || !strings.Contains(out, "level=sandboxed") ||
		!strings.Contains(out, "policy does not allow the runsc runtime") {
		t.Errorf("the second node did not warn that it dropped sandboxed, and why:\n%s", out)
	}

	cert := enrollReadCert(t, filepath.Join(tlsDir, "cert.pem"))
	if role, err := pki.RoleOf(cert); err != nil || role != pki.RoleProvision {
		t.Errorf("second's certificate role: %q %v", role, err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("second's certificate does not chain to DATA/ca.pem: %v", err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("second's certificate does not name its address: %v", err)
	}
	if nodeCA, err := os.ReadFile(filepath.Join(tlsDir, "ca.pem")); err != nil || string(nodeCA) != string(caPEM) {
		t.Errorf("second's ca.pem is not DATA/ca.pem: %v", err)
	}

	// The token was for one node: a second use is refused and says so.
	var reusedOut syncBuffer
	if code := provision(ctx, filepath.Join(dir, "third"), token, "third", enrollFreePort(t), &reusedOut); code == 0 ||
		!strings.Contains(reusedOut.String(), "has already been used (it allowed 1 enrollment); create a new one with airlock server join-token") {
		t.Errorf("join with a used token: exit %d: %s", code, reusedOut.String())
	}
	t.Logf("reused token: %s", strings.TrimSpace(reusedOut.String()))

	// An expired token is refused with the time it expired.
	short := joinToken("--ttl", "1s")
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ls := env.cli(t, "node", "join-token", "ls"); strings.Contains(ls, " expired ") {
			break
		} else if time.Now().After(end) {
			t.Fatalf("a 1s join token is not listed as expired after 30s:\n%s", ls)
		}
	}
	var expiredOut syncBuffer
	if code := provision(ctx, filepath.Join(dir, "fourth"), short, "fourth", enrollFreePort(t), &expiredOut); code == 0 ||
		!regexp.MustCompile(`join token [0-9a-f]+ expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; create a new one with airlock server join-token`).MatchString(expiredOut.String()) {
		t.Errorf("join with an expired token: exit %d: %s", code, expiredOut.String())
	}
	t.Logf("expired token: %s", strings.TrimSpace(expiredOut.String()))

	// A node may not advertise more capacity than its token allows.
	capped := joinToken("--capacity", "5")
	var cappedOut syncBuffer
	if code := provision(ctx, filepath.Join(dir, "fifth"), capped, "fifth", enrollFreePort(t), &cappedOut, "--capacity", "6"); code == 0 ||
		!strings.Contains(cappedOut.String(), "capacity 6 is above this join token's cap of 5") {
		t.Errorf("join above the token's capacity cap: exit %d: %s", code, cappedOut.String())
	}

	// A revoked token enrolls nothing.
	ls := env.cli(t, "node", "join-token", "ls")
	var cappedID string
	for _, l := range strings.Split(ls, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == "active" && f[2] == "1/1" {
			cappedID = f[0]
		}
	}
	if cappedID == "" {
		t.Fatalf("node join-token ls does not list the unused capped token:\n%s", ls)
	}
	env.cli(t, "node", "join-token", "rm", cappedID)
	var revokedOut syncBuffer
	if code := provision(ctx, filepath.Join(dir, "sixth"), capped, "sixth", enrollFreePort(t), &revokedOut); code == 0 ||
		!strings.Contains(revokedOut.String(), "join token is not valid") {
		t.Errorf("join with a revoked token: exit %d: %s", code, revokedOut.String())
	}
	if ls := env.cli(t, "node", "ls"); nodeLine(ls, "third") != "" || nodeLine(ls, "fourth") != "" || nodeLine(ls, "fifth") != "" || nodeLine(ls, "sixth") != "" {
		t.Errorf("a refused token enrolled a node:\n%s", ls)
	}

	// Before removal, second's certificate gets through the handshake.
	pair, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if status, err := enrollGet(serverURL.Host, roots, pair); err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("GET /healthz with second's certificate before removal: %q %v", status, err)
	}

	// Removal revokes the certificate: the node's heartbeat is refused and
	// it stops with an error that says so.
	env.cli(t, "node", "rm", "second")
	if ls := env.cli(t, "node", "ls"); nodeLine(ls, "second") != "" {
		t.Errorf("node ls after rm:\n%s", ls)
	}
	if status, err := enrollGet(serverURL.Host, roots, pair); err == nil {
		t.Errorf("GET /healthz with the revoked certificate: %q, want a refusal at the handshake", status)
	} else {
		t.Logf("revoked certificate: %v", err)
	}
	removed := time.Now()
	select {
	case code := <-nodeDone:
		nodeStopped = true
		out := nodeOut.String()
		if code == 0 || !strings.Contains(out, "the server refused this node") {
			t.Errorf("the removed node exited %d after %.1fs: %s", code, time.Since(removed).Seconds(), out)
		} else {
			t.Logf("the removed node stopped after %.1fs", time.Since(removed).Seconds())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the removed node still runs 30s after `node rm` (heartbeat period 10s); its log:\n%s", nodeOut.String())
	}
}
