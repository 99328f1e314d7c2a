package infra

import (
	"context"
	"fmt"
	"net/url"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// EnsureLocalNode enrolls the provision node that runs beside the server
// in an all-in-one deployment. The server holds the CA, so it issues the
// node's certificate itself instead of going through a join token; a
// restart reuses the node's record (and its sessions) with a fresh
// certificate. The catalog is left to SeedWorkspaces. isolation is what
// the caller proved the node delivers (standard when empty); an unknown
// level is refused.
func EnsureLocalNode(ctx context.Context, srv *Server, name, nodeURL string, capacity int, tlsDir string, isolation []airlock.Isolation) error {
	if len(isolation) == 0 {
		isolation = []airlock.Isolation{airlock.IsolationStandard}
	}
	for _, l := range isolation {
		if !l.Valid() {
			return fmt.Errorf("local node: isolation %q is not one of standard, hardened, sandboxed", l)
		}
	}
	u, err := url.Parse(nodeURL)
	if err != nil {
		return fmt.Errorf("local node url: %w", err)
	}
	b, err := srv.CA.Issue(pki.IssueRequest{Role: pki.RoleProvision, Name: u.Hostname(), Hosts: []string{"localhost"}})
	if err != nil {
		return err
	}
	if err := pki.WriteBundle(tlsDir, b); err != nil {
		return err
	}
	now := airlock.Now()
	n, err := srv.Store.NodeByName(ctx, name)
	switch airlock.ErrorCode(err) {
	case airlock.ENOTFOUND:
		n = &airlock.Node{ID: newNodeID(), Name: name, CreatedAt: now}
	case "":
	default:
		return err
	}
	n.URL, n.Capacity, n.Isolation = nodeURL, capacity, isolation
	n.State, n.LastHeartbeat, n.UpdatedAt = airlock.NodeReady, now, now
	// The previous certificate was just overwritten on disk: only the new
	// one is on record.
	n.CertSerial, n.CertPrevSerial, n.CertNotAfter = b.Cert.SerialNumber.Text(16), "", b.Cert.NotAfter
	if n.CreatedAt.Equal(now) {
		err = srv.Store.CreateNode(ctx, n)
	} else {
		err = srv.Store.UpdateNode(ctx, n)
	}
	if err != nil {
		return fmt.Errorf("record local node: %w", err)
	}
	return nil
}
