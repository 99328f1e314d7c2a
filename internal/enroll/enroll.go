// Package enroll is a provision node's side of joining a deployment: it
// fetches the deployment CA and accepts it only if it matches the
// fingerprint in the join token (no trust on first use), sends a CSR for a
// key it made itself, and then keeps the node's certificate renewed and
// its heartbeats flowing over mutual TLS.
package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/peerid"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// Node describes the joining node.
type Node struct {
	Name      string            `json:"name"`
	URL       string            `json:"url"`
	Capacity  int               `json:"capacity"`
	Isolation []string          `json:"isolation,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Join enrolls the node with the server at serverURL using the join token
// and writes ca.pem, cert.pem and key.pem into tlsDir.
func Join(ctx context.Context, serverURL, token string, node Node, tlsDir string) error {
	jt, err := auth.ParseJoinToken(token)
	if err != nil {
		return fmt.Errorf("join token: %w", err)
	}
	caPEM, err := fetchPinnedCA(ctx, serverURL, jt.CAFingerprint)
	if err != nil {
		return err
	}
	key, csrPEM, err := newKeyAndCSR(node.Name)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if err := acceptOnlyServer(cfg, serverURL, pool); err != nil {
		return err
	}
	api, err := newAPI(serverURL, &http.Transport{TLSClientConfig: cfg}, 1<<20)
	if err != nil {
		return err
	}
	resp, err := api.EnrollNode(ctx, apiclient.EnrollRequest{Token: jt.String(), Name: node.Name, URL: node.URL,
		Capacity: node.Capacity, Isolation: node.Isolation, Labels: node.Labels, CSR: string(csrPEM)})
	if err != nil {
		return fmt.Errorf("enroll: %w", answered(err))
	}
	return writeBundle(tlsDir, []byte(resp.CA), []byte(resp.Cert), key)
}

// fetchPinnedCA reads the CA certificate over an unverified connection and
// accepts it only if its SHA-256 matches the token's fingerprint, as a
// Swarm join token pins the cluster's root.
func fetchPinnedCA(ctx context.Context, serverURL, fingerprint string) ([]byte, error) {
	api, err := newAPI(serverURL, &http.Transport{
		// Verified below by fingerprint instead of by chain: this is how a
		// node that has no CA yet gets the right one.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec
	}, 64<<10)
	if err != nil {
		return nil, err
	}
	raw, err := api.CACertificate(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", serverURL, answered(err))
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("fetch CA from %s: not a PEM certificate", serverURL)
	}
	sum := sha256.Sum256(block.Bytes)
	want := strings.TrimPrefix(fingerprint, "sha256:")
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(want)) != 1 {
		return nil, fmt.Errorf("the CA served by %s does not match the join token's fingerprint: refusing to trust it", serverURL)
	}
	return pem.EncodeToMemory(block), nil
}

func newKeyAndCSR(name string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create csr: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func writeBundle(dir string, caPEM, certPEM []byte, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	return pki.WriteBundle(dir, &pki.Bundle{CACertPEM: caPEM, CertPEM: certPEM, Cert: cert,
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})})
}

func parseCert(p []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(p)
	if block == nil {
		return nil, errors.New("server answered no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// newAPI is a client of the api at server over tr, answers bounded by
// maxAnswer. A refusal is an *apiclient.Error: its status decides what
// the node does.
func newAPI(server string, tr http.RoundTripper, maxAnswer int64) (*apiclient.Client, error) {
	return apiclient.New(apiclient.Options{Server: server, Transport: tr, Timeout: 30 * time.Second, MaxAnswer: maxAnswer})
}

// answered puts the status of a refusal in its message, which is the
// api's own words otherwise: the operator reading the node's log needs
// both.
func answered(err error) error {
	if st := apiclient.StatusOf(err); st != 0 {
		return fmt.Errorf("server answered %d: %w", st, err)
	}
	return err
}

// Maintainer keeps an enrolled node's certificate fresh and sends its
// heartbeats.
type Maintainer struct {
	Server string
	TLSDir string
	Log    *slog.Logger
	// Every is the heartbeat period. Default 10s.
	Every time.Duration
}

// Run heartbeats and renews until ctx ends. It stops with an error when
// the server refuses the node for good (removed, certificate revoked).
func (m *Maintainer) Run(ctx context.Context) error {
	if m.Every == 0 {
		m.Every = 10 * time.Second
	}
	log := m.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refusals := 0
	for {
		cfg, err := pki.ClientTLSConfig(m.TLSDir)
		if err != nil {
			return err
		}
		if err := acceptOnlyServer(cfg, m.Server, cfg.RootCAs); err != nil {
			return err
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		api, err := newAPI(m.Server, tr, 1<<20)
		if err != nil {
			return err
		}
		err = answered(api.NodeHeartbeat(ctx))
		if st := apiclient.StatusOf(err); st == http.StatusForbidden || st == http.StatusUnauthorized {
			return fmt.Errorf("the server refused this node: %w", err)
		}
		// A revoked certificate is refused at the handshake, with an alert
		// rather than a status; a few in a row are a final answer.
		if certRefused(err) {
			refusals++
			if refusals >= maxRefusals {
				return fmt.Errorf("the server refused this node's certificate (removed or revoked): %w", err)
			}
		} else {
			refusals = 0
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("heartbeat failed", "err", err)
		}
		if due, err := m.renewalDue(); err != nil {
			return err
		} else if due {
			if err := m.renew(ctx, api); err != nil {
				if apiclient.StatusOf(err)/100 == 4 {
					return fmt.Errorf("renewal refused: %w", err)
				}
				log.Warn("renewal failed; retrying", "err", err)
			} else {
				log.Info("renewed node certificate")
			}
		}
		tr.CloseIdleConnections()
		next := m.Every + mrand.N(m.Every/5)
		if refusals > 0 {
			// Confirm a refusal soon rather than serve on for periods.
			next = 2 * time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next):
		}
	}
}

// maxRefusals is how many handshakes in a row the server must refuse
// before the node gives up: one could be a server restarting with a
// half-written certificate.
const maxRefusals = 3

// certRefused reports whether err is the server refusing our certificate
// at the TLS handshake.
func certRefused(err error) bool {
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "remote error" {
		return false
	}
	msg := op.Err.Error()
	return strings.Contains(msg, "bad certificate") || strings.Contains(msg, "revoked") ||
		strings.Contains(msg, "expired") || strings.Contains(msg, "unknown certificate")
}

// renewalDue: at two thirds of the certificate's lifetime, as smallstep's
// renewer does, leaving a third to ride out an unreachable server.
func (m *Maintainer) renewalDue() (bool, error) {
	raw, err := os.ReadFile(filepath.Join(m.TLSDir, "cert.pem"))
	if err != nil {
		return false, err
	}
	cert, err := parseCert(raw)
	if err != nil {
		return false, err
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	return time.Now().After(cert.NotBefore.Add(life * 2 / 3)), nil
}

func (m *Maintainer) renew(ctx context.Context, api *apiclient.Client) error {
	raw, err := os.ReadFile(filepath.Join(m.TLSDir, "cert.pem"))
	if err != nil {
		return err
	}
	cur, err := parseCert(raw)
	if err != nil {
		return err
	}
	key, csrPEM, err := newKeyAndCSR(cur.Subject.CommonName)
	if err != nil {
		return err
	}
	resp, err := api.RenewNode(ctx, string(csrPEM))
	if err != nil {
		return answered(err)
	}
	return writeBundle(m.TLSDir, []byte(resp.CA), []byte(resp.Cert), key)
}

// acceptOnlyServer makes cfg accept only the infra server's certificate
// (role infra, valid for serverURL's host): any other certificate of the
// deployment (another node's, say) could otherwise pose as the server and
// collect a join token or a renewal's CSR.
func acceptOnlyServer(cfg *tls.Config, serverURL string, roots *x509.CertPool) error {
	u, err := url.Parse(serverURL)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("server URL %q has no host", serverURL)
	}
	peerid.Rule{Roots: roots, Role: peerid.RoleInfra, Host: u.Hostname(),
		Client: "a provision node", Server: "the infra server"}.Apply(cfg)
	return nil
}
