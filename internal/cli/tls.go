package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"

	"github.com/airlock-rbi/airlock/internal/peerid"
)

// serverTLS decides whom the CLI accepts as the server:
//   - no CA saved: the system's roots, for a server with a public
//     certificate;
//   - a CA file holding an Airlock deployment CA: only that deployment's
//     infra server certificate (role infra), valid for the server's host,
//     since every node, admin and agent of the deployment also holds a
//     certificate of that CA;
//   - any other CA (a company's own, say): certificates of it valid for
//     the host, as a browser would; they carry no Airlock role.
func serverTLS(server, caPEM string) (*tls.Config, error) {
	if caPEM == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	pool := x509.NewCertPool()
	deployment, n := false, 0
	rest := []byte(caPEM)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the saved CA certificate does not parse: %w", err)
		}
		pool.AddCert(cert)
		n++
		deployment = deployment || peerid.IsDeploymentCA(cert)
	}
	if n == 0 {
		return nil, errors.New("the saved CA certificate is not PEM")
	}
	if !deployment {
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
	}
	u, err := url.Parse(server)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("server %q is not a URL with a host", server)
	}
	return peerid.Rule{Roots: pool, Role: peerid.RoleInfra, Host: u.Hostname(),
		Client: "the CLI", Server: "the infra server"}.ClientConfig(), nil
}
