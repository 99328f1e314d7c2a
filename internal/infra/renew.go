package infra

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// renewer reissues the server's own certificates (its HTTPS listener and
// its client certificate towards the nodes) at two thirds of their
// lifetime. The TLS configs reload the files, so nothing restarts.
type renewer struct {
	ca    *pki.CA
	certs []ownCert
	log   *slog.Logger
}

type ownCert struct {
	dir string
	req pki.IssueRequest
}

func (r *renewer) run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		for _, c := range r.certs {
			due, err := renewalDue(c.dir, time.Now())
			if err == nil && due {
				err = IssueTo(r.ca, c.dir, c.req)
				if err == nil {
					r.log.Info("renewed certificate", "dir", c.dir, "role", c.req.Role)
				}
			}
			if err != nil {
				r.log.Error("renew certificate", "dir", c.dir, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func renewalDue(dir string, now time.Time) (bool, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return false, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return false, errors.New("cert.pem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, err
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	return now.After(cert.NotBefore.Add(life * 2 / 3)), nil
}
