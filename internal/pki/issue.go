package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"
	"unicode"
)

// maxTTL bounds any certificate's lifetime: with no revocation, expiry is
// the only backstop against a leaked key.
const maxTTL = 90 * 24 * time.Hour

// maxNameLen is the longest DNS name allowed (RFC 1035, without the root dot).
const maxNameLen = 253

// IssueRequest describes the certificate to issue.
type IssueRequest struct {
	Role Role
	// Name is the CN; it is also added as a SAN, as an IP address if it
	// parses as one and as a DNS name otherwise.
	Name string
	// Hosts are extra SANs (IP addresses or DNS names).
	Hosts []string
	// TTL is the lifetime; 0 means Role.DefaultTTL().
	TTL time.Duration
}

// Bundle is an issued certificate with what its holder needs to use it.
type Bundle struct {
	CACertPEM []byte
	CertPEM   []byte
	// KeyPEM is nil when the certificate was issued for a CSR.
	KeyPEM []byte
	Cert   *x509.Certificate
}

// Issue generates a fresh key and a certificate for it. Keys are never
// reused across certificates so renewal also rotates the key.
func (ca *CA) Issue(req IssueRequest) (*Bundle, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue %s certificate %q: generate key: %w", req.Role, req.Name, err)
	}
	b, err := ca.sign(req, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("issue %s certificate %q: marshal key: %w", req.Role, req.Name, err)
	}
	b.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return b, nil
}

// SignCSR issues a certificate for the public key in csr, so the private
// key never leaves the requester. Only the key is taken from the CSR: the
// subject, SANs and role all come from req, because a CSR is written by the
// party asking for privileges and cannot be trusted to describe them.
func (ca *CA) SignCSR(csr *x509.CertificateRequest, req IssueRequest) (*Bundle, error) {
	if csr == nil {
		return nil, fmt.Errorf("sign csr for %s %q: no csr", req.Role, req.Name)
	}
	// The signature proves the requester holds the private key; without
	// this check anyone could get a certificate for someone else's key.
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign csr for %s %q: check signature: %w", req.Role, req.Name, err)
	}
	return ca.sign(req, csr.PublicKey)
}

// sign is the shared half of Issue and SignCSR.
func (ca *CA) sign(req IssueRequest, pub crypto.PublicKey) (*Bundle, error) {
	wrap := func(err error) error {
		return fmt.Errorf("issue %s certificate %q: %w", req.Role, req.Name, err)
	}
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, wrap(errors.New("ca is not loaded"))
	}
	if _, err := ParseRole(string(req.Role)); err != nil {
		return nil, wrap(err)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = req.Role.DefaultTTL()
	}
	if ttl < 0 || ttl > maxTTL {
		return nil, wrap(fmt.Errorf("ttl %s out of range (0, %s]", ttl, maxTTL))
	}

	tmpl := &x509.Certificate{
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: extKeyUsages(req.Role),
	}
	if err := addSAN(tmpl, req.Name); err != nil {
		return nil, wrap(fmt.Errorf("name: %w", err))
	}
	for _, h := range req.Hosts {
		if err := addSAN(tmpl, h); err != nil {
			return nil, wrap(fmt.Errorf("host: %w", err))
		}
	}

	caPub, ok := ca.Cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, wrap(fmt.Errorf("ca public key is %T, want ECDSA", ca.Cert.PublicKey))
	}
	id, err := deploymentID(caPub)
	if err != nil {
		return nil, wrap(err)
	}
	tmpl.Subject = pkix.Name{
		CommonName:         req.Name,
		Organization:       []string{id},
		OrganizationalUnit: []string{string(req.Role)},
	}

	now := ca.now()
	if !now.Before(ca.Cert.NotAfter) {
		return nil, wrap(fmt.Errorf("ca expired at %s", ca.Cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(ttl)
	// A leaf outliving its CA would fail verification anyway; capping
	// makes the certificate say honestly when it stops working.
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, wrap(err)
	}

	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, wrap(fmt.Errorf("create certificate: %w", err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, wrap(fmt.Errorf("parse certificate: %w", err))
	}
	return &Bundle{
		CACertPEM: ca.CertPEM,
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Cert:      cert,
	}, nil
}

// extKeyUsages grants ServerAuth only to roles that run servers, so an
// admin or agent certificate cannot be used to impersonate a service.
func extKeyUsages(r Role) []x509.ExtKeyUsage {
	switch r {
	case RoleInfra, RoleProvision, RoleGateway, RoleAPI, RoleSignal, RoleCron, RolePortal:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
}

// addSAN validates s and adds it to tmpl as an IP or DNS SAN, skipping
// duplicates.
func addSAN(tmpl *x509.Certificate, s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if ip := net.ParseIP(s); ip != nil {
		for _, have := range tmpl.IPAddresses {
			if have.Equal(ip) {
				return nil
			}
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		return nil
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("%q is %d characters, longer than %d", s[:16]+"...", len(s), maxNameLen)
	}
	for _, c := range s {
		// DNS SANs are IA5 strings: ASCII only. Spaces and control
		// characters are refused because they make names that look alike
		// in logs and error messages.
		if c > unicode.MaxASCII || unicode.IsSpace(c) || unicode.IsControl(c) {
			return fmt.Errorf("%q contains invalid character %q", s, c)
		}
	}
	for _, have := range tmpl.DNSNames {
		if have == s {
			return nil
		}
	}
	tmpl.DNSNames = append(tmpl.DNSNames, s)
	return nil
}
