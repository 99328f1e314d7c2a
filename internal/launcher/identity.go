package launcher

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/peerid"
)

// NodeCert is what is on record for the node at a URL: the certificates
// it may serve with.
type NodeCert struct {
	// Name names the node in refusals.
	Name string
	// Serials are the serials (hex) of its certificate and of the one its
	// last renewal replaced, which it serves with until it has written
	// the new one.
	Serials []string
}

// Records returns what is on record for the node at nodeURL.
type Records func(ctx context.Context, nodeURL string) (NodeCert, error)

// recordsTimeout bounds a look-up done inside a TLS handshake, which has
// no context of its own; it matches the handshake's timeout.
const recordsTimeout = 10 * time.Second

// RecordsFrom reads the records from the node list (the store's): the
// serials of every node enrolled at the URL. Two records at one URL can
// only be the same host enrolled twice, and the launcher's clients are
// per URL, so either may answer.
func RecordsFrom(list func(context.Context) ([]*airlock.Node, error)) Records {
	return func(ctx context.Context, nodeURL string) (NodeCert, error) {
		nodes, err := list(ctx)
		if err != nil {
			return NodeCert{}, fmt.Errorf("certificates on record for %s: %w", nodeURL, err)
		}
		var nc NodeCert
		var names []string
		for _, n := range nodes {
			if n.URL != nodeURL {
				continue
			}
			names = append(names, n.Name)
			for _, s := range []string{n.CertSerial, n.CertPrevSerial} {
				if s != "" {
					nc.Serials = append(nc.Serials, s)
				}
			}
		}
		if len(names) == 0 {
			return NodeCert{}, fmt.Errorf("no node is enrolled at %s", nodeURL)
		}
		nc.Name = strings.Join(names, ", ")
		return nc, nil
	}
}

// nodeTLS makes base (the infra client config) accept only the provision
// certificate on record for the node at nodeURL. The record is read at
// each handshake rather than once, so that a renewal, which changes it, is
// followed without dropping the client.
func (l *Launcher) nodeTLS(base *tls.Config, nodeURL string) (*tls.Config, error) {
	u, err := url.Parse(nodeURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("node url %q has no host", nodeURL)
	}
	if l.records == nil {
		return nil, fmt.Errorf("node %s: the launcher has no node records to check its certificate against", nodeURL)
	}
	cfg := base.Clone()
	roots, host := base.RootCAs, u.Hostname()
	// crypto/tls's own checks are replaced by peerid's, which make them
	// all (chain, key usage, host) and add the role and the serials.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		ctx, cancel := context.WithTimeout(context.Background(), recordsTimeout)
		defer cancel()
		rec, err := l.records(ctx, nodeURL)
		if err != nil {
			return fmt.Errorf("node %s: %w", nodeURL, err)
		}
		if len(rec.Serials) == 0 {
			return fmt.Errorf("node %s (%s) has no certificate on record", rec.Name, nodeURL)
		}
		return peerid.Rule{Roots: roots, Role: peerid.RoleProvision, Host: host, Serials: rec.Serials,
			Client: "the launcher", Server: "node " + rec.Name}.Check(cs.PeerCertificates, cs.ServerName)
	}
	return cfg, nil
}
