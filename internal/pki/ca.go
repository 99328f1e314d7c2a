// Package pki is Airlock's internal certificate authority.
//
// Every Airlock component authenticates with mutual TLS using certificates
// from a single per-deployment CA. The certificate's Subject OU carries the
// holder's Role, so a server decides what a peer may do from the verified
// chain alone, and it refuses disallowed roles during the TLS handshake,
// before any request is read. Certificates are short-lived instead of
// revocable: renewal rewrites them on disk and servers pick up the new ones
// without a restart.
//
// On-disk layout: a CA directory holds ca.pem and ca-key.pem; an issued
// bundle directory holds ca.pem, cert.pem and key.pem, the names the docker
// CLI expects in DOCKER_CERT_PATH.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-rbi/airlock/internal/peerid"
)

// File names inside a CA directory.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

const (
	caValidity = 10 * 365 * 24 * time.Hour
	// clockSkew backdates NotBefore so a peer whose clock runs slightly
	// behind ours does not reject a certificate issued a moment ago.
	clockSkew = time.Minute
)

// CA is a loaded certificate authority able to issue certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	// Now is the clock used for issuing; tests replace it. Nil means
	// time.Now.
	Now func() time.Time
}

// InitCA creates a new CA in dir, creating dir with mode 0700 if needed. It
// never overwrites: replacing a CA would silently orphan every certificate
// already issued, so it fails with an error wrapping fs.ErrExist if either
// file is present.
func InitCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, caCertFile)
	keyPath := filepath.Join(dir, caKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("init ca: a CA already exists at %s: %w", p, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("init ca %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init ca %s: %w", dir, err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("init ca %s: generate key: %w", dir, err)
	}
	id, err := deploymentID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("init ca %s: %w", dir, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("init ca %s: %w", dir, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   "Airlock CA " + id,
			Organization: []string{id},
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// Path length 0: the CA signs leaves only, so a leaked leaf key
		// can never be turned into an intermediate.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("init ca %s: create certificate: %w", dir, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("init ca %s: parse certificate: %w", dir, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("init ca %s: marshal key: %w", dir, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})

	// The key goes first: if a concurrent InitCA wins the race for either
	// file, O_EXCL makes us fail and we remove only what we created.
	if err := writeFileExcl(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("init ca %s: %w", dir, err)
	}
	if err := writeFileExcl(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return nil, fmt.Errorf("init ca %s: %w", dir, err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, Now: time.Now}, nil
}

// LoadCA reads the CA in dir. It refuses a key file that group or others
// can read, because anyone holding the CA key can mint admin certificates.
func LoadCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, caCertFile)
	keyPath := filepath.Join(dir, caKeyFile)

	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load ca %s: %w", dir, err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("load ca %s: key file %s has mode %04o and is readable by group or others; run chmod 600 %s",
			dir, keyPath, mode, keyPath)
	}

	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load ca %s: %w", dir, err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca %s: %s: %w", dir, certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load ca %s: %s is not a CA certificate", dir, certPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load ca %s: %w", dir, err)
	}
	key, err := parseECKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca %s: %s: %w", dir, keyPath, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("load ca %s: key %s does not match certificate %s", dir, keyPath, certPath)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, Now: time.Now}, nil
}

// DeploymentID is the short stable name of this deployment (the CA's
// subject O): containers carry it, so deployments that share a Docker
// engine never touch each other's.
func (ca *CA) DeploymentID() string {
	if len(ca.Cert.Subject.Organization) == 1 {
		return ca.Cert.Subject.Organization[0]
	}
	id, _ := deploymentID(&ca.Key.PublicKey)
	return id
}

// Fingerprint identifies the CA certificate as "sha256:<hex>". Join tokens
// carry it so a joining host can pin the CA before trusting anything it is
// sent.
func (ca *CA) Fingerprint() string {
	sum := sha256.Sum256(ca.Cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

// deploymentID derives a short stable name for a deployment from its CA
// public key, so it needs no separate storage and cannot drift from the CA.
func deploymentID(pub *ecdsa.PublicKey) (string, error) {
	return peerid.DeploymentID(pub)
}

// randomSerial returns a random positive 128-bit serial. Random serials
// make certificate contents unpredictable to a requester, which is what
// defeats chosen-prefix collision attacks.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
