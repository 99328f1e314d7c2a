package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
)

// The client as the gateway saw it, for a service in another process:
// the address it connected from (the api's throttles and audit key on
// it) and the certificate it presented at the public listener, which
// that listener verified against the deployment's CA and its
// revocations (a provision node's: the api matches its serial to the
// node's record). Only the gateway sets them; Internal takes them from a
// gateway peer alone.
const (
	ClientAddrHeader = "Airlock-Client-Addr"
	ClientCertHeader = "Airlock-Client-Cert"
)

// setClient puts in's client address and verified certificate in h.
func setClient(h http.Header, in *http.Request) {
	h.Del(ClientAddrHeader)
	h.Del(ClientCertHeader)
	if in.RemoteAddr != "" {
		h.Set(ClientAddrHeader, in.RemoteAddr)
	}
	if in.TLS != nil && len(in.TLS.VerifiedChains) > 0 {
		h.Set(ClientCertHeader, base64.RawStdEncoding.EncodeToString(in.TLS.VerifiedChains[0][0].Raw))
	}
}

// takeClient makes r, forwarded by the gateway, look as it did to the
// gateway: its client's address, and its client's certificate in place
// of the gateway's own.
func takeClient(r *http.Request) (*http.Request, error) {
	addr, cert := r.Header.Get(ClientAddrHeader), r.Header.Get(ClientCertHeader)
	r.Header.Del(ClientAddrHeader)
	r.Header.Del(ClientCertHeader)
	r2 := r.Clone(r.Context())
	if addr != "" {
		if _, err := netip.ParseAddrPort(addr); err != nil {
			return nil, fmt.Errorf("%s %q: %w", ClientAddrHeader, addr, err)
		}
		r2.RemoteAddr = addr
	}
	cs := tls.ConnectionState{}
	if r.TLS != nil {
		cs = *r.TLS
	}
	cs.PeerCertificates, cs.VerifiedChains = nil, nil
	if cert != "" {
		der, err := base64.RawStdEncoding.DecodeString(cert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ClientCertHeader, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ClientCertHeader, err)
		}
		cs.PeerCertificates = []*x509.Certificate{c}
		cs.VerifiedChains = [][]*x509.Certificate{{c}}
	}
	r2.TLS = &cs
	return r2, nil
}
