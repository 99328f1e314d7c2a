package api

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
)

type nodeView struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	URL           string            `json:"url"`
	State         string            `json:"state"`
	Draining      bool              `json:"draining"`
	Capacity      int               `json:"capacity"`
	Active        int               `json:"active"`
	Isolation     []string          `json:"isolation"`
	Labels        map[string]string `json:"labels,omitempty"`
	CertNotAfter  time.Time         `json:"cert_not_after"`
	LastHeartbeat time.Time         `json:"last_heartbeat"`
	CreatedAt     time.Time         `json:"created_at"`
}

func viewNode(n *airlock.Node, active int) nodeView {
	iso := make([]string, 0, len(n.Isolation))
	for _, i := range n.Isolation {
		iso = append(iso, string(i))
	}
	return nodeView{ID: n.ID, Name: n.Name, URL: n.URL, State: string(n.State), Draining: n.Draining, Capacity: n.Capacity, Active: active,
		Isolation: iso, Labels: n.Labels, CertNotAfter: n.CertNotAfter, LastHeartbeat: n.LastHeartbeat, CreatedAt: n.CreatedAt}
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	nodes, err := s.store.ListNodes(ctx)
	if err != nil {
		return err
	}
	out := make([]nodeView, 0, len(nodes))
	for _, n := range nodes {
		active, err := s.store.CountSessions(ctx, airlock.SessionFilter{NodeID: n.ID, States: airlock.ActiveStates})
		if err != nil {
			return err
		}
		out = append(out, viewNode(n, active))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// drainNode stops new placements on a node (…/drain) or ends the drain
// (…/undrain); its sessions run on and end as they would. It answers
// with the node.
func (s *Server) drainNode(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	node, err := s.store.NodeByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	on := strings.HasSuffix(r.URL.Path, "/drain")
	node, err = s.store.SetNodeDraining(ctx, node.ID, on, s.clock.now())
	if err != nil {
		return err
	}
	action := "node.drain"
	if !on {
		action = "node.undrain"
	}
	s.audit(ctx, callerOf(ctx).User.Name, action, node.ID, node.Name)
	active, err := s.store.CountSessions(ctx, airlock.SessionFilter{NodeID: node.ID, States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewNode(node, active))
	return nil
}

// caCert serves the deployment CA certificate. It is public: a joining
// node fetches it over an unverified connection and accepts it only if it
// matches the fingerprint in its join token.
func (s *Server) caCert(w http.ResponseWriter, r *http.Request) error {
	if s.ca == nil {
		return airlock.Errorf(airlock.ENOTFOUND, "no CA")
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err := w.Write(s.ca.CertPEM)
	return err
}

type enrollRequest struct {
	Token     string            `json:"token"`
	Name      string            `json:"name"`
	URL       string            `json:"url"`
	Capacity  int               `json:"capacity"`
	Isolation []string          `json:"isolation"`
	Labels    map[string]string `json:"labels,omitempty"`
	CSR       string            `json:"csr"`
}

type certResponse struct {
	NodeID   string    `json:"node_id,omitempty"`
	CertPEM  string    `json:"cert"`
	CAPEM    string    `json:"ca"`
	NotAfter time.Time `json:"not_after"`
}

var errNoCA = airlock.Errorf(airlock.EUNAVAILABLE, "this server holds no CA and cannot issue certificates")

// enroll admits a provision node that holds a live join token, within
// what the token allows, and signs its certificate. Everything is judged
// before the token's use is taken, and the use is taken together with
// storing the node, so a refused request leaves the token as it was.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) error {
	var req enrollRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if s.ca == nil {
		return errNoCA
	}
	jt, err := auth.ParseJoinToken(req.Token)
	if err != nil || jt.CAFingerprint != s.ca.Fingerprint() {
		s.refusal(ctx, "", "node.enroll", req.Name, "not a join token of this deployment")
		return errBadJoin
	}
	hash := jt.SecretHash()
	tok, err := s.store.JoinTokenByHash(ctx, hash)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND {
		s.refusal(ctx, "", "node.enroll", req.Name, "join token unknown or deleted")
		return errBadJoin
	}
	if err != nil {
		return err
	}
	now := s.clock.now()
	if err := joinRefusal(tok, now); err != nil {
		s.refusal(ctx, "", "node.enroll", req.Name, "join token "+tok.ID+": "+airlock.ErrorMessage(err))
		return err
	}
	node, host, err := s.validateNode(req)
	if err != nil {
		return err
	}
	if err := withinCaps(tok, node); err != nil {
		return err
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return err
	}
	b, err := s.ca.SignCSR(csr, pki.IssueRequest{Role: pki.RoleProvision, Name: host})
	if err != nil {
		return err
	}
	node.ID, node.State = newID(), airlock.NodeReady
	node.CertSerial, node.CertNotAfter = b.Cert.SerialNumber.Text(16), b.Cert.NotAfter
	node.LastHeartbeat, node.CreatedAt, node.UpdatedAt = now, now, now
	if err := s.store.EnrollNode(ctx, hash, now, node); err != nil {
		if airlock.ErrorCode(err) != airlock.EUNAUTHORIZED {
			return err
		}
		// Another node took the last use, or an admin removed the token,
		// since it was read: say which.
		cur, rerr := s.store.JoinTokenByHash(ctx, hash)
		if rerr != nil {
			return errBadJoin
		}
		if refusal := joinRefusal(cur, now); refusal != nil {
			return refusal
		}
		return err
	}
	s.audit(ctx, "node:"+node.Name, "node.enroll", node.ID, fmt.Sprintf("%s join-token=%s", node.URL, tok.ID))
	writeJSON(w, http.StatusOK, certResponse{NodeID: node.ID, CertPEM: string(b.CertPEM), CAPEM: string(b.CACertPEM), NotAfter: b.Cert.NotAfter})
	return nil
}

func (s *Server) validateNode(req enrollRequest) (*airlock.Node, string, error) {
	if err := airlock.ValidName("node", req.Name); err != nil {
		return nil, "", err
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return nil, "", airlock.Errorf(airlock.EINVALID, "node url %q must be https://HOST:PORT", req.URL)
	}
	host := u.Hostname()
	if !validHost(host) {
		return nil, "", airlock.Errorf(airlock.EINVALID, "node url host %q is not an IP address or DNS name", host)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, "", airlock.Errorf(airlock.EINVALID, "node url port %q is not between 1 and 65535", p)
		}
	}
	if req.Capacity < 1 || req.Capacity > maxNodeCapacity {
		return nil, "", airlock.Errorf(airlock.EINVALID, "capacity %d must be between 1 and %d", req.Capacity, maxNodeCapacity)
	}
	if err := airlock.ValidLabels("node "+req.Name, req.Labels); err != nil {
		return nil, "", err
	}
	n := &airlock.Node{Name: req.Name, URL: "https://" + net.JoinHostPort(host, portOr(u.Port(), "2376")), Capacity: req.Capacity, Labels: req.Labels}
	if len(req.Isolation) == 0 {
		req.Isolation = []string{string(airlock.IsolationStandard)}
	}
	for _, i := range req.Isolation {
		if !airlock.Isolation(i).Valid() {
			return nil, "", airlock.Errorf(airlock.EINVALID, "isolation %q is not one of standard, hardened, sandboxed", i)
		}
		n.Isolation = append(n.Isolation, airlock.Isolation(i))
	}
	return n, host, nil
}

var dnsName = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)

// validHost accepts what a certificate SAN can name: an IP or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	return len(h) <= 253 && dnsName.MatchString(h)
}

func portOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

func parseCSR(p string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, airlock.Errorf(airlock.EINVALID, "csr must be a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, airlock.Errorf(airlock.EINVALID, "csr does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, airlock.Errorf(airlock.EINVALID, "csr signature does not verify")
	}
	return csr, nil
}

// nodeCaller is the enrolled node whose client certificate made r. A
// refused certificate is recorded in the audit log.
func (s *Server) nodeCaller(ctx context.Context, r *http.Request) (*airlock.Node, error) {
	n, err := s.nodeCallerOf(ctx, r)
	if c := airlock.ErrorCode(err); c == airlock.EUNAUTHORIZED || c == airlock.EFORBIDDEN {
		why := airlock.ErrorMessage(err)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			cert := r.TLS.PeerCertificates[0]
			why += fmt.Sprintf(" (certificate %q, serial %s)", cert.Subject.CommonName, cert.SerialNumber.Text(16))
		}
		s.refusal(ctx, "", "node.refused", r.URL.Path, why)
	}
	return n, err
}

func (s *Server) nodeCallerOf(ctx context.Context, r *http.Request) (*airlock.Node, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, airlock.Errorf(airlock.EUNAUTHORIZED, "a provision node's client certificate is required")
	}
	cert := r.TLS.PeerCertificates[0]
	if role, err := pki.RoleOf(cert); err != nil || role != pki.RoleProvision {
		return nil, airlock.Errorf(airlock.EFORBIDDEN, "a provision certificate is required")
	}
	nodes, err := s.store.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	serial := cert.SerialNumber.Text(16)
	for _, n := range nodes {
		// The previous certificate still identifies the node: a node
		// whose renewal answer was lost holds only that one, and must be
		// able to renew again rather than be locked out.
		if n.CertSerial == serial || (n.CertPrevSerial != "" && n.CertPrevSerial == serial) {
			return n, nil
		}
	}
	return nil, airlock.Errorf(airlock.EFORBIDDEN, "this certificate belongs to no enrolled node (removed or renewed)")
}

type renewRequest struct {
	CSR string `json:"csr"`
}

// renewNode signs a new certificate for the node that presents its
// current one; the old serial stops identifying the node to the api, but
// stays on record as the previous one.
func (s *Server) renewNode(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if s.ca == nil {
		return errNoCA
	}
	node, err := s.nodeCaller(ctx, r)
	if err != nil {
		return err
	}
	var req renewRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return err
	}
	u, _ := url.Parse(node.URL)
	b, err := s.ca.SignCSR(csr, pki.IssueRequest{Role: pki.RoleProvision, Name: u.Hostname()})
	if err != nil {
		return err
	}
	// The node serves with its current certificate until it has written
	// the new one, so the launcher accepts both (see launcher.NodeCert).
	// A renewal with the previous certificate (the last answer was lost)
	// keeps that one as the previous: the node never had the other.
	if presented := r.TLS.PeerCertificates[0].SerialNumber.Text(16); presented != node.CertSerial {
		node.CertPrevSerial = presented
	} else {
		node.CertPrevSerial = node.CertSerial
	}
	node.CertSerial, node.CertNotAfter, node.UpdatedAt = b.Cert.SerialNumber.Text(16), b.Cert.NotAfter, s.clock.now()
	if err := s.store.UpdateNode(ctx, node); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, certResponse{NodeID: node.ID, CertPEM: string(b.CertPEM), CAPEM: string(b.CACertPEM), NotAfter: b.Cert.NotAfter})
	return nil
}

// nodeHeartbeat records that a node is alive.
func (s *Server) nodeHeartbeat(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	node, err := s.nodeCaller(ctx, r)
	if err != nil {
		return err
	}
	// Liveness alone: a renewal or an address change meanwhile stands.
	if err := s.store.NodeAnswered(ctx, node.ID, s.clock.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteNode removes a node: its certificate is revoked (refused at the
// handshake from now on), its client dropped, and its sessions failed.
func (s *Server) deleteNode(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	node, err := s.store.NodeByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	live, err := s.store.ListSessions(ctx, airlock.SessionFilter{NodeID: node.ID, States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	if len(live) > 0 && r.URL.Query().Get("force") != "1" {
		return airlock.Errorf(airlock.ECONFLICT, "node %q runs %d active sessions; end them or remove with force=1", node.Name, len(live))
	}
	for _, sess := range live {
		// The node is going: nothing of it is asked to remove anything.
		if err := s.sessions.Fail(ctx, sess, nil, airlock.EndAdmin, "the node "+node.Name+" was removed"); err != nil {
			return err
		}
	}
	// Both certificates on record identify the node: revoke both. The
	// previous one expires before the current one.
	for _, serial := range []string{node.CertSerial, node.CertPrevSerial} {
		if serial == "" {
			continue
		}
		if err := s.store.RevokeCert(ctx, serial, node.CertNotAfter); err != nil {
			return err
		}
		if s.onRevoke != nil {
			s.onRevoke(serial)
		}
	}
	if err := s.store.DeleteNode(ctx, node.ID); err != nil {
		return err
	}
	if f, ok := s.driver.(interface{ Forget(string) }); ok {
		f.Forget(node.URL)
	}
	s.audit(ctx, callerOf(ctx).User.Name, "node.delete", node.ID, node.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type dockerEnvResponse struct {
	DockerHost string    `json:"docker_host"`
	CAPEM      string    `json:"ca"`
	CertPEM    string    `json:"cert"`
	KeyPEM     string    `json:"key"`
	NotAfter   time.Time `json:"not_after"`
}

// dockerEnv issues the calling admin a short-lived admin certificate for
// driving a node with the stock docker CLI.
func (s *Server) dockerEnv(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if s.ca == nil {
		return errNoCA
	}
	node, err := s.store.NodeByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	b, err := s.ca.Issue(pki.IssueRequest{Role: pki.RoleAdmin, Name: callerOf(ctx).User.Name})
	if err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "node.docker-env", node.ID, node.Name)
	u, _ := url.Parse(node.URL)
	writeJSON(w, http.StatusOK, dockerEnvResponse{DockerHost: "tcp://" + u.Host, CAPEM: string(b.CACertPEM),
		CertPEM: string(b.CertPEM), KeyPEM: string(b.KeyPEM), NotAfter: b.Cert.NotAfter})
	return nil
}
