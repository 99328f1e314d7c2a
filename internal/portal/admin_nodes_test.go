package portal_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

type nodeJSON struct {
	Name      string            `json:"name"`
	Draining  bool              `json:"draining"`
	Capacity  int               `json:"capacity"`
	Isolation []string          `json:"isolation"`
	Labels    map[string]string `json:"labels"`
}

type joinTokenJSON struct {
	ID        string   `json:"id"`
	Isolation []string `json:"isolation"`
	UsesLeft  int      `json:"uses_left"`
	State     string   `json:"state"`
}

func (s *server) nodes() []nodeJSON {
	var list []nodeJSON
	s.must("GET", "/nodes", nil, &list)
	return list
}

// enroll enrolls a provision node with a join token, as `airlock node
// --join` does: a key, its CSR and the token, to the api's public
// enrollment route.
func (s *server) enroll(token, name string, capacity int, isolation []string, labels map[string]string) {
	s.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "127.0.0.1"}}, key)
	if err != nil {
		s.t.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	body := map[string]any{"token": token, "name": name, "url": "https://127.0.0.1:2376", "capacity": capacity,
		"isolation": isolation, "labels": labels, "csr": string(csr)}
	if err := s.call("", "POST", "/nodes/enroll", body, nil); err != nil {
		s.t.Fatalf("enroll %s: %v", name, err)
	}
}

// TestAdminNodes drives the Nodes page with the keyboard: a join token
// made with the form (an isolation level ticked with Space) is shown
// once with the focus on Copy; a node enrolls with that very token
// through the api, and its row shows its load, levels and zone label;
// Drain and Undrain (Enter on the row's button) are checked through the
// api, as are deleting the token and the node through the confirmation.
func TestAdminNodes(t *testing.T) {
	s := startServer(t)
	p := s.openPortal("admin", adminPassword)
	p.adminPage("nodes", "Nodes")

	p.tabTo("#jt-ttl")
	p.keys("2h")
	p.tabTo("#jt-iso-hardened")
	p.keys(" ")
	p.tabTo("#jt-create")
	p.keys(kb.Enter)
	p.waitFor(`!!document.getElementById('jt-secret')`)
	if got := p.focusSettles("jt-copy"); got != "jt-copy" {
		t.Errorf("a new token gives the focus to %s, want its Copy button", got)
	}
	var secret string
	p.eval(`document.getElementById('jt-secret').value`, &secret)
	var tokens []joinTokenJSON
	s.must("GET", "/nodes/join-tokens", nil, &tokens)
	if len(tokens) != 1 || !slices.Equal(tokens[0].Isolation, []string{"standard", "hardened"}) || tokens[0].State != "active" {
		t.Fatalf("after the form the api lists the join tokens %+v; want one allowing standard and hardened", tokens)
	}
	// The secret is shown once: the listing does not carry it.
	p.waitFor(`!!document.querySelector('tr[data-token="` + tokens[0].ID + `"]')`)
	if secret == "" || contains(p.textOf("#tokens-list"), secret) {
		t.Fatalf("the token %q is not shown, or is in the listing too", secret)
	}
	s.enroll(secret, "node-a", 5, []string{"standard", "hardened"}, map[string]string{"zone": "eu-1"})
	s.must("GET", "/nodes/join-tokens", nil, &tokens)
	if tokens[0].UsesLeft != 0 {
		t.Fatalf("the token shown was not the one that enrolled the node: %+v", tokens[0])
	}

	p.run(chromedp.Reload())
	p.waitFor(`!!document.querySelector('tr[data-node="node-a"]')`)
	row := p.textOf(`tr[data-node="node-a"]`)
	for _, want := range []string{"0 of 5", "standard, hardened", "zone=eu-1"} {
		if !contains(row, want) {
			t.Errorf("node-a's row %q does not say %q", row, want)
		}
	}

	p.run(chromedp.Evaluate(`document.getElementById('admin-title').focus()`, nil))
	p.tabTo(`[aria-label="Drain node-a"]`)
	p.keys(kb.Enter)
	p.waitStatus("Node node-a is draining: no new sessions go to it.")
	if n := s.nodes(); len(n) != 1 || !n[0].Draining {
		t.Fatalf("after Drain the api has %+v", n)
	}
	if got := p.focusSettles("Undrain node-a"); got != "Undrain node-a" {
		t.Errorf("after Drain the focus is on %s, want the row's Undrain", got)
	}
	p.keys(kb.Enter)
	p.waitStatus("Node node-a takes new sessions again.")
	if n := s.nodes(); len(n) != 1 || n[0].Draining {
		t.Fatalf("after Undrain the api has %+v", n)
	}

	p.tabTo(`[aria-label="Delete join token ` + tokens[0].ID + `"]`)
	p.keys(kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("Join token " + tokens[0].ID + " deleted.")
	s.must("GET", "/nodes/join-tokens", nil, &tokens)
	if len(tokens) != 0 {
		t.Fatalf("join tokens after the delete: %+v", tokens)
	}

	p.tabTo(`[aria-label="Delete node-a"]`)
	p.keys(kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("Node node-a deleted.")
	if n := s.nodes(); len(n) != 0 {
		t.Fatalf("nodes after the delete: %+v", n)
	}
}
