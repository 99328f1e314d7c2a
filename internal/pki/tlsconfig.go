package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// ServerTLSConfig returns a mutual-TLS server configuration for the bundle
// in dir (ca.pem, cert.pem, key.pem) that accepts only clients holding a
// certificate from the same CA with one of the allowed roles. Role checks
// run in VerifyConnection so a disallowed client fails the handshake and
// never reaches request handling. cert.pem and key.pem are reloaded when
// they change on disk, so renewal needs no restart.
func ServerTLSConfig(dir string, allowed ...Role) (*tls.Config, error) {
	if len(allowed) == 0 {
		return nil, fmt.Errorf("server tls config %s: no roles allowed", dir)
	}
	for _, r := range allowed {
		if _, err := ParseRole(string(r)); err != nil {
			return nil, fmt.Errorf("server tls config %s: %w", dir, err)
		}
	}
	allowed = slices.Clone(allowed)

	pool, err := loadPool(filepath.Join(dir, bundleCAFile))
	if err != nil {
		return nil, fmt.Errorf("server tls config %s: %w", dir, err)
	}
	rl := &certReloader{
		certPath: filepath.Join(dir, bundleCertFile),
		keyPath:  filepath.Join(dir, bundleKeyFile),
	}
	// Load once now so a broken bundle fails at startup, not on the first
	// connection.
	if _, err := rl.get(); err != nil {
		return nil, fmt.Errorf("server tls config %s: %w", dir, err)
	}

	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		// Offer only HTTP/1.1 so ALPN never selects HTTP/2: handlers may
		// rely on HTTP/1.1-only behaviour such as connection hijacking.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return rl.get()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			role, err := RoleOf(cs.PeerCertificates[0])
			if err != nil {
				return err
			}
			if !slices.Contains(allowed, role) {
				return fmt.Errorf("client %q has role %s; this server allows only %s",
					cs.PeerCertificates[0].Subject.CommonName, role, roleList(allowed))
			}
			return nil
		},
	}, nil
}

// ClientTLSConfig returns a mutual-TLS client configuration for the bundle
// in dir: it trusts only ca.pem and presents cert.pem/key.pem, reloaded
// when they change on disk so a renewed certificate is used at once.
func ClientTLSConfig(dir string) (*tls.Config, error) {
	pool, err := loadPool(filepath.Join(dir, bundleCAFile))
	if err != nil {
		return nil, fmt.Errorf("client tls config %s: %w", dir, err)
	}
	rl := &certReloader{
		certPath: filepath.Join(dir, bundleCertFile),
		keyPath:  filepath.Join(dir, bundleKeyFile),
	}
	cert, err := rl.get()
	if err != nil {
		return nil, fmt.Errorf("client tls config %s: %w", dir, err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
		// Certificates holds the first load for callers that inspect it;
		// GetClientCertificate, which takes precedence, serves renewals.
		Certificates: []tls.Certificate{*cert},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return rl.get()
		},
	}, nil
}

// PublicServerTLSConfig is for the infra server's public listener:
// browsers connect without a client certificate, while provision nodes
// and agents may present one from this CA, which is verified and, when
// revoked reports its serial (hex) as revoked, refused at the handshake.
func PublicServerTLSConfig(dir string, revoked func(serial string) bool) (*tls.Config, error) {
	pool, err := loadPool(filepath.Join(dir, bundleCAFile))
	if err != nil {
		return nil, fmt.Errorf("public tls config %s: %w", dir, err)
	}
	rl := &certReloader{
		certPath: filepath.Join(dir, bundleCertFile),
		keyPath:  filepath.Join(dir, bundleKeyFile),
	}
	if _, err := rl.get(); err != nil {
		return nil, fmt.Errorf("public tls config %s: %w", dir, err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  pool,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return rl.get()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || revoked == nil {
				return nil
			}
			if serial := cs.PeerCertificates[0].SerialNumber.Text(16); revoked(serial) {
				return fmt.Errorf("client certificate %s (serial %s) is revoked", cs.PeerCertificates[0].Subject.CommonName, serial)
			}
			return nil
		},
	}, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load ca certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("load ca certificates: no certificate in %s", path)
	}
	return pool, nil
}

// certReloader serves a certificate pair from disk, reloading it when
// either file changes. A stat per handshake is cheap next to the handshake
// itself and avoids a watcher goroutine that would need shutting down.
type certReloader struct {
	certPath, keyPath string

	mu                sync.Mutex
	cert              *tls.Certificate
	certStat, keyStat os.FileInfo
}

func (r *certReloader) get() (*tls.Certificate, error) {
	// One lock around stat and load keeps the reasoning simple: the stats
	// recorded always predate the load, so a rewrite racing with a load is
	// picked up by the next handshake.
	r.mu.Lock()
	defer r.mu.Unlock()

	certStat, certErr := os.Stat(r.certPath)
	keyStat, keyErr := os.Stat(r.keyPath)
	if err := errors.Join(certErr, keyErr); err != nil {
		// Files briefly missing or unreadable: keep serving what we have
		// rather than failing every handshake.
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	if r.cert != nil && unchanged(r.certStat, certStat) && unchanged(r.keyStat, keyStat) {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		// Renewal replaces key.pem and cert.pem one after the other, so a
		// handshake can see a new key with the old certificate. Keep the
		// old pair; the recorded stats are not updated, so the next
		// handshake tries again.
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	r.cert, r.certStat, r.keyStat = &cert, certStat, keyStat
	return r.cert, nil
}

// unchanged reports whether a file looks the same as when last loaded.
// Modification times alone can miss a rewrite within one filesystem clock
// tick, so the identity of the file (atomic renames produce a new one) and
// its size are compared too.
func unchanged(old, cur os.FileInfo) bool {
	return os.SameFile(old, cur) && old.ModTime().Equal(cur.ModTime()) && old.Size() == cur.Size()
}
