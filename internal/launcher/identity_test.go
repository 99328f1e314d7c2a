package launcher

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/provisiontest"
)

// onRecord is what a store would hold for node: its URL and serial.
func onRecord(node *provisiontest.Node) Records {
	return RecordsFrom(func(context.Context) ([]*airlock.Node, error) {
		return []*airlock.Node{{Name: "n1", URL: node.URL, CertSerial: node.Serial}}, nil
	})
}

// TestLauncherAcceptsOnlyTheNodeOnRecord puts servers at a node's place
// that hold certificates of the node's CA: only the certificates on
// record for the node (its current one and the one it renewed away) are
// talked to; another node's provision certificate and other roles are
// refused at the handshake, before the infra certificate is sent.
func TestLauncherAcceptsOnlyTheNodeOnRecord(t *testing.T) {
	node := provisiontest.Start(t, provisiontest.Options{})
	issue := func(role pki.Role) *pki.Bundle {
		b, err := node.CA.Issue(pki.IssueRequest{Role: role, Name: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	current, previous := issue(pki.RoleProvision), issue(pki.RoleProvision)
	serials := []string{current.Cert.SerialNumber.Text(16), previous.Cert.SerialNumber.Text(16)}
	tests := []struct {
		name    string
		cert    *pki.Bundle
		wantErr string // "" means the node answered
	}{
		{"current certificate", current, ""},
		{"previous certificate, just renewed", previous, ""},
		{"another node's provision certificate", issue(pki.RoleProvision), "is not the one on record for node n1"},
		{"infra certificate", issue(pki.RoleInfra), "the server's certificate has role infra; the launcher talks only to node n1 (role provision)"},
		{"admin certificate", issue(pki.RoleAdmin), "has role admin; the launcher talks only to node n1 (role provision)"},
		{"agent certificate", issue(pki.RoleAgent), "has role agent; the launcher talks only to node n1 (role provision)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := tls.X509KeyPair(tt.cert.CertPEM, tt.cert.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			var calls int
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				w.Header().Set("Api-Version", "1.41")
				w.Write([]byte("OK"))
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
			srv.StartTLS()
			defer srv.Close()
			records := RecordsFrom(func(context.Context) ([]*airlock.Node, error) {
				return []*airlock.Node{{Name: "n1", URL: srv.URL, CertSerial: serials[0], CertPrevSerial: serials[1]}}, nil
			})
			l := New(node.InfraTLS, records, "test-deployment", nil)
			defer l.Close()
			err = l.Ping(context.Background(), srv.URL)
			srv.Close()
			if tt.wantErr == "" {
				if err != nil || calls == 0 {
					t.Fatalf("ping: %v (%d calls)", err, calls)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ping: %v, want an error containing %q", err, tt.wantErr)
			}
			if calls != 0 {
				t.Fatal("the impostor received a request")
			}
		})
	}
}

// TestLauncherRefusesNodeOffRecord: a node that is not (or no longer)
// enrolled, or whose record cannot be read, is not talked to.
func TestLauncherRefusesNodeOffRecord(t *testing.T) {
	node := provisiontest.Start(t, provisiontest.Options{})
	tests := []struct {
		name    string
		nodes   []*airlock.Node
		listErr error
		wantErr string
	}{
		{"removed", nil, nil, "no node is enrolled at " + node.URL},
		{"no serial", []*airlock.Node{{Name: "n1", URL: node.URL}}, nil, "has no certificate on record"},
		{"renewed away twice", []*airlock.Node{{Name: "n1", URL: node.URL, CertSerial: "1", CertPrevSerial: "2"}}, nil, "is not the one on record for node n1"},
		{"store down", nil, errors.New("database is closed"), "database is closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(node.InfraTLS, RecordsFrom(func(context.Context) ([]*airlock.Node, error) { return tt.nodes, tt.listErr }), "test-deployment", nil)
			defer l.Close()
			if err := l.Ping(context.Background(), node.URL); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ping: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRecordsFrom(t *testing.T) {
	nodes := []*airlock.Node{
		{Name: "a", URL: "https://10.0.0.5:2376", CertSerial: "a1", CertPrevSerial: "a0"},
		{Name: "b", URL: "https://10.0.0.6:2376", CertSerial: "b1"},
		{Name: "c", URL: "https://10.0.0.5:2376", CertSerial: "c1"},
	}
	rec := RecordsFrom(func(context.Context) ([]*airlock.Node, error) { return nodes, nil })
	tests := []struct {
		url     string
		want    NodeCert
		wantErr string
	}{
		{"https://10.0.0.6:2376", NodeCert{Name: "b", Serials: []string{"b1"}}, ""},
		{"https://10.0.0.5:2376", NodeCert{Name: "a, c", Serials: []string{"a1", "a0", "c1"}}, ""},
		{"https://10.0.0.7:2376", NodeCert{}, "no node is enrolled"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := rec(context.Background(), tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("records: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want.Name || !slices.Equal(got.Serials, tt.want.Serials) {
				t.Fatalf("records = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
