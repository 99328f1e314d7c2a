package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// joinToken asks for a new join token as the admin: with the defaults, or
// with what spec sets.
func (e *env) joinToken(spec ...createJoinTokenRequest) string {
	e.t.Helper()
	return e.newJoinToken(spec...).Token
}

func (e *env) newJoinToken(spec ...createJoinTokenRequest) joinTokenView {
	e.t.Helper()
	var body createJoinTokenRequest
	if len(spec) > 0 {
		body = spec[0]
	}
	rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/join-tokens", Bearer: e.adminTok, Body: body})
	wantStatus(e.t, rec, http.StatusOK)
	var jt joinTokenView
	mustJSON(e.t, rec, &jt)
	return jt
}

// enrollNode enrolls a node through the API and returns its certificate.
func (e *env) enrollNode(name, url string) *x509.Certificate {
	e.t.Helper()
	csr, _ := newCSR(e.t, name)
	rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: enrollRequest{
		Token: e.joinToken(), Name: name, URL: url, Capacity: 4, CSR: csr}})
	wantStatus(e.t, rec, http.StatusOK)
	var cr certResponse
	mustJSON(e.t, rec, &cr)
	return parseCertPEM(e.t, cr.CertPEM)
}

func TestCreateJoinToken(t *testing.T) {
	e := newEnv(t)
	noCA := newEnv(t, func(o *Options) { o.CA = nil })
	std := []string{"standard"}
	for _, tc := range []struct {
		name   string
		e      *env
		bearer string
		body   any
		code   string
		msg    string
		// What the token records, for accepted requests.
		ttl      time.Duration
		uses     int
		capacity int
		iso      []string
	}{
		{name: "ok/defaults", e: e, bearer: e.adminTok, body: map[string]any{}, ttl: time.Hour, uses: 1, capacity: 20, iso: std},
		{name: "ok/all-set", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "10m", Uses: 5, Capacity: 100, Isolation: []string{"standard", "sandboxed"}},
			ttl: 10 * time.Minute, uses: 5, capacity: 100, iso: []string{"standard", "sandboxed"}},
		{name: "ok/isolation-deduplicated", e: e, bearer: e.adminTok, body: createJoinTokenRequest{Isolation: []string{"hardened", "hardened"}},
			ttl: time.Hour, uses: 1, capacity: 20, iso: []string{"hardened"}},
		{name: "ok/bounds", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "24h", Uses: 1000, Capacity: 10000},
			ttl: 24 * time.Hour, uses: 1000, capacity: 10000, iso: std},
		{name: "ok/shortest", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "1s"}, ttl: time.Second, uses: 1, capacity: 20, iso: std},
		{name: "fail/ttl-too-long", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "25h"}, code: "invalid", msg: `ttl "25h" must be a duration between 1s and 24h`},
		{name: "fail/ttl-too-short", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "500ms"}, code: "invalid", msg: `ttl "500ms"`},
		{name: "fail/ttl-negative", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "-1h"}, code: "invalid", msg: `ttl "-1h"`},
		{name: "fail/ttl-garbage", e: e, bearer: e.adminTok, body: createJoinTokenRequest{TTL: "soon"}, code: "invalid", msg: `ttl "soon"`},
		{name: "fail/uses-negative", e: e, bearer: e.adminTok, body: createJoinTokenRequest{Uses: -1}, code: "invalid", msg: "uses -1 must be between 1 and 1000"},
		{name: "fail/uses-too-many", e: e, bearer: e.adminTok, body: createJoinTokenRequest{Uses: 1001}, code: "invalid", msg: "uses 1001"},
		{name: "fail/capacity-negative", e: e, bearer: e.adminTok, body: createJoinTokenRequest{Capacity: -5}, code: "invalid", msg: "capacity -5 must be between 1 and 10000"},
		{name: "fail/capacity-huge", e: e, bearer: e.adminTok, body: createJoinTokenRequest{Capacity: 10001}, code: "invalid", msg: "capacity 10001"},
		{name: "fail/isolation-unknown", e: e, bearer: e.adminTok, body: createJoinTokenRequest{Isolation: []string{"standard", "vm"}}, code: "invalid", msg: `isolation "vm"`},
		{name: "fail/unknown-field", e: e, bearer: e.adminTok, body: map[string]any{"secret": "mine"}, code: "invalid", msg: "request body"},
		{name: "fail/user", e: e, bearer: e.userTok, body: map[string]any{}, code: "forbidden", msg: "admin role"},
		{name: "fail/anonymous", e: e, body: map[string]any{}, code: "unauthorized"},
		{name: "fail/no-ca", e: noCA, bearer: noCA.adminTok, body: map[string]any{}, code: "unavailable", msg: "no CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := tc.e.st.ListJoinTokens(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rec := tc.e.do(req{Method: "POST", Path: "/api/v1/nodes/join-tokens", Bearer: tc.bearer, Body: tc.body})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				after, err := tc.e.st.ListJoinTokens(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(after) != len(before) {
					t.Error("a refused request stored a join token")
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var v joinTokenView
			mustJSON(t, rec, &v)
			p, err := auth.ParseJoinToken(v.Token)
			if err != nil {
				t.Fatalf("join token %q: %v", v.Token, err)
			}
			if p.CAFingerprint != tc.e.ca.Fingerprint() {
				t.Errorf("join token pins %s, want %s", p.CAFingerprint, tc.e.ca.Fingerprint())
			}
			stored, err := tc.e.st.JoinTokenByHash(context.Background(), p.SecretHash())
			if err != nil {
				t.Fatalf("the token's secret is not what the store keeps: %v", err)
			}
			now := tc.e.clk.Now()
			if !stored.ExpiresAt.Equal(now.Add(tc.ttl).Truncate(time.Microsecond)) || stored.Uses != tc.uses || stored.UsesLeft != tc.uses ||
				stored.MaxCapacity != tc.capacity || !slices.Equal(isolationNames(stored.Isolation), tc.iso) || stored.CreatedBy != "admin" {
				t.Errorf("stored %+v; want ttl %s, %d uses, capacity %d, isolation %v", stored, tc.ttl, tc.uses, tc.capacity, tc.iso)
			}
			if v.ID != stored.ID || v.State != "active" || v.Uses != tc.uses || v.Capacity != tc.capacity {
				t.Errorf("answer %+v does not describe the stored token %+v", v, stored)
			}
		})
	}
}

func TestListAndDeleteJoinTokens(t *testing.T) {
	e := newEnv(t)
	used := e.newJoinToken()
	expired := e.newJoinToken(createJoinTokenRequest{TTL: "1m"})
	e.clk.Advance(2 * time.Minute)
	active := e.newJoinToken(createJoinTokenRequest{Uses: 2, Capacity: 8, Isolation: []string{"standard", "hardened"}})
	csr, _ := newCSR(t, "n1")
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: enrollRequest{
		Token: used.Token, Name: "n1", URL: "https://10.0.0.5:2376", Capacity: 4, CSR: csr}}), http.StatusOK)

	rec := e.do(req{Method: "GET", Path: "/api/v1/nodes/join-tokens", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	if strings.Contains(rec.Body.String(), "ALJT-") {
		t.Fatalf("the list shows a secret: %s", rec.Body)
	}
	var list []joinTokenView
	mustJSON(t, rec, &list)
	states := map[string]string{}
	for _, v := range list {
		states[v.ID] = v.State
	}
	if want := map[string]string{used.ID: "used", expired.ID: "expired", active.ID: "active"}; !maps.Equal(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}

	for _, tc := range []struct {
		name   string
		bearer string
		method string
		path   string
		code   string
		msg    string
	}{
		{"fail/user-lists", e.userTok, "GET", "/api/v1/nodes/join-tokens", "forbidden", "admin role"},
		{"fail/anonymous-lists", "", "GET", "/api/v1/nodes/join-tokens", "unauthorized", ""},
		{"fail/user-deletes", e.userTok, "DELETE", "/api/v1/nodes/join-tokens/" + active.ID, "forbidden", "admin role"},
		{"fail/unknown", e.adminTok, "DELETE", "/api/v1/nodes/join-tokens/nope", "not_found", `join token "nope" not found`},
		{"ok/admin-deletes", e.adminTok, "DELETE", "/api/v1/nodes/join-tokens/" + active.ID, "", ""},
		{"fail/deleted-twice", e.adminTok, "DELETE", "/api/v1/nodes/join-tokens/" + active.ID, "not_found", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: tc.method, Path: tc.path, Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusNoContent)
		})
	}
	// A revoked token enrolls nothing, though it had a use left.
	csr, _ = newCSR(t, "n2")
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: enrollRequest{
		Token: active.Token, Name: "n2", URL: "https://10.0.0.6:2376", Capacity: 4, CSR: csr}}), "unauthorized", "join token is not valid")
	if _, err := e.st.NodeByName(context.Background(), "n2"); err == nil {
		t.Error("a revoked join token enrolled a node")
	}
}

// TestEnrollJoinTokenLimits: a token enrolls as many nodes as it has uses,
// until it expires, and only nodes within its caps; each refusal says
// which limit, and a refused request does not spend a use.
func TestEnrollJoinTokenLimits(t *testing.T) {
	e := newEnv(t)
	single := e.joinToken()
	double := e.joinToken(createJoinTokenRequest{Uses: 2})
	capped := e.joinToken(createJoinTokenRequest{Uses: 10, Capacity: 8, Isolation: []string{"standard", "hardened"}})
	short := e.newJoinToken(createJoinTokenRequest{TTL: "10m", Uses: 5})
	expiresAt := short.ExpiresAt.Format(time.RFC3339)
	body := func(tok, name string, capacity int, iso ...string) enrollRequest {
		csr, _ := newCSR(t, name)
		return enrollRequest{Token: tok, Name: name, URL: "https://" + name + ".example:2376", Capacity: capacity, Isolation: iso, CSR: csr}
	}
	const used = "has already been used (it allowed 1 enrollment); create a new one with airlock server join-token"
	// Steps run in order: each sees what the ones before spent.
	for _, tc := range []struct {
		name    string
		advance time.Duration
		body    enrollRequest
		code    string
		msg     string
		wantIso []string
	}{
		{name: "ok/single-use", body: body(single, "a1", 4), wantIso: []string{"standard"}},
		{name: "fail/single-use-reused", body: body(single, "a2", 4), code: "unauthorized", msg: used},
		// A refusal for bad input happens before the use is taken.
		{name: "fail/double-bad-csr", body: func() enrollRequest { b := body(double, "b0", 4); b.CSR = "nope"; return b }(), code: "invalid", msg: "csr"},
		{name: "fail/double-name-taken", body: body(double, "a1", 4), code: "conflict", msg: `node "a1" already exists`},
		{name: "ok/double-first", body: body(double, "b1", 4), wantIso: []string{"standard"}},
		{name: "ok/double-second", body: body(double, "b2", 4), wantIso: []string{"standard"}},
		{name: "fail/double-third", body: body(double, "b3", 4), code: "unauthorized", msg: "has already been used (it allowed 2 enrollments)"},
		{name: "fail/capacity-over-cap", body: body(capped, "c1", 9), code: "forbidden",
			msg: "capacity 9 is above this join token's cap of 8; start the node with --capacity 8 or less, or create a token with airlock server join-token --capacity 9"},
		{name: "fail/isolation-not-allowed", body: body(capped, "c1", 8, "standard", "sandboxed"), code: "forbidden",
			msg: "isolation sandboxed is not allowed by this join token, which allows standard,hardened; create a token with airlock server join-token --isolation standard,hardened,sandboxed"},
		{name: "fail/isolation-default-cap", body: body(short.Token, "c1", 4, "hardened"), code: "forbidden", msg: "isolation hardened is not allowed by this join token, which allows standard"},
		{name: "fail/capacity-default-cap", body: body(short.Token, "c1", 21), code: "forbidden", msg: "capacity 21 is above this join token's cap of 20"},
		{name: "ok/within-caps", body: body(capped, "c1", 8, "hardened", "standard"), wantIso: []string{"hardened", "standard"}},
		{name: "ok/before-expiry", advance: 10*time.Minute - time.Second, body: body(short.Token, "d0", 4), wantIso: []string{"standard"}},
		{name: "fail/expired", advance: time.Second, body: body(short.Token, "d1", 4), code: "unauthorized",
			msg: "join token " + short.ID + " expired at " + expiresAt + "; create a new one with airlock server join-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clk.Advance(tc.advance)
			rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: tc.body})
			if tc.code != "" {
				e.wantEnrollRefused(t, rec, tc.body.Name, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			n, err := e.st.NodeByName(context.Background(), tc.body.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got := isolationNames(n.Isolation); !slices.Equal(got, tc.wantIso) {
				t.Errorf("stored isolation %v, want %v", got, tc.wantIso)
			}
		})
	}
}

func TestCACert(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{Method: "GET", Path: "/api/v1/ca"})
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != string(e.ca.CertPEM) {
		t.Errorf("GET /ca is not the CA certificate")
	}
	noCA := newEnv(t, func(o *Options) { o.CA = nil })
	wantError(t, noCA.do(req{Method: "GET", Path: "/api/v1/ca"}), "not_found")
}

func TestEnroll(t *testing.T) {
	e := newEnv(t)
	revoked := e.newJoinToken()
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/nodes/join-tokens/" + revoked.ID, Bearer: e.adminTok}), http.StatusNoContent)
	rotated := revoked.Token
	tok := e.joinToken(createJoinTokenRequest{Uses: 100, Capacity: 10000, Isolation: []string{"standard", "hardened"}})
	otherCA, err := pki.InitCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := auth.NewJoinToken(otherCA.Fingerprint())
	// The right CA but a secret never issued.
	forged, _ := auth.NewJoinToken(e.ca.Fingerprint())
	// The current secret pinned to another CA.
	cur, _ := auth.ParseJoinToken(tok)
	wrongPin := auth.JoinToken{CAFingerprint: otherCA.Fingerprint(), Secret: cur.Secret}.String()

	csr, _ := newCSR(t, "ignored")
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ca.Cert.Raw}))
	garbageCSR := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("not DER")}))
	// A CSR whose signature does not match its key.
	block, _ := pem.Decode([]byte(csr))
	bad := slices.Clone(block.Bytes)
	bad[len(bad)-3] ^= 0xff
	badSigCSR := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: bad}))

	base := func(mod func(*enrollRequest)) enrollRequest {
		c, _ := newCSR(t, "n")
		r := enrollRequest{Token: tok, Name: "n1", URL: "https://10.0.0.5:2376", Capacity: 4,
			Isolation: []string{"standard", "hardened"}, Labels: map[string]string{"zone": "a"}, CSR: c}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	const badJoin = "join token is not valid"
	for i, tc := range []struct {
		name    string
		body    enrollRequest
		code    string
		msg     string
		wantURL string
		wantCN  string
	}{
		{name: "ok/full", body: base(nil), wantURL: "https://10.0.0.5:2376", wantCN: "10.0.0.5"},
		{name: "ok/default-port-and-isolation", body: base(func(r *enrollRequest) {
			r.Name, r.URL, r.Isolation, r.Labels = "n2", "https://node2.example", nil, nil
		}), wantURL: "https://node2.example:2376", wantCN: "node2.example"},
		{name: "ok/trailing-slash", body: base(func(r *enrollRequest) { r.Name, r.URL = "n3", "https://node3.example:12376/" }),
			wantURL: "https://node3.example:12376", wantCN: "node3.example"},
		{name: "ok/ipv6", body: base(func(r *enrollRequest) { r.Name, r.URL = "n4", "https://[fd00::5]:2376" }),
			wantURL: "https://[fd00::5]:2376", wantCN: "fd00::5"},
		{name: "ok/capacity-max", body: base(func(r *enrollRequest) { r.Name, r.URL, r.Capacity = "n5", "https://n5.example", 10000 }),
			wantURL: "https://n5.example:2376", wantCN: "n5.example"},
		{name: "fail/duplicate-name", body: base(nil), code: "conflict", msg: `node "n1" already exists`},
		{name: "fail/revoked-token", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", rotated }), code: "unauthorized", msg: badJoin},
		{name: "fail/forged-secret", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", forged.String() }), code: "unauthorized", msg: badJoin},
		{name: "fail/other-ca", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", foreign.String() }), code: "unauthorized", msg: badJoin},
		{name: "fail/wrong-pin", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", wrongPin }), code: "unauthorized", msg: badJoin},
		{name: "fail/garbage-token", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", "ALJT-1-nope" }), code: "unauthorized", msg: badJoin},
		{name: "fail/no-token", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", "" }), code: "unauthorized", msg: badJoin},
		{name: "fail/api-token", body: base(func(r *enrollRequest) { r.Name, r.Token = "x1", e.adminTok }), code: "unauthorized", msg: badJoin},
		{name: "fail/bad-token-beats-bad-input", body: base(func(r *enrollRequest) { r.Name, r.Token, r.Capacity = "X", rotated, 0 }), code: "unauthorized", msg: badJoin},
		{name: "fail/name-empty", body: base(func(r *enrollRequest) { r.Name = "" }), code: "invalid", msg: "node name"},
		{name: "fail/name-upper", body: base(func(r *enrollRequest) { r.Name = "Node1" }), code: "invalid", msg: "node name"},
		{name: "fail/name-slash", body: base(func(r *enrollRequest) { r.Name = "a/b" }), code: "invalid", msg: "node name"},
		{name: "fail/url-http", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "http://10.0.0.5:2376" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-tcp", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "tcp://10.0.0.5:2376" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-empty", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-path", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://10.0.0.5:2376/v1.45" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-query", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://10.0.0.5:2376?x=1" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-no-host", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https:///" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-bad-port", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://10.0.0.5:port" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-relative", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "10.0.0.5:2376" }), code: "invalid", msg: "must be https://HOST:PORT"},
		{name: "fail/url-port-only", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://:2376" }), code: "invalid", msg: "is not an IP address or DNS name"},
		{name: "fail/url-non-ascii-host", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://bücher.example:2376" }), code: "invalid", msg: "url"},
		{name: "fail/url-host-too-long", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://"+strings.Repeat("a", 300)+":2376" }), code: "invalid", msg: "url"},
		{name: "fail/url-port-out-of-range", body: base(func(r *enrollRequest) { r.Name, r.URL = "x1", "https://10.0.0.5:99999" }), code: "invalid", msg: "is not between 1 and 65535"},
		{name: "fail/capacity-zero", body: base(func(r *enrollRequest) { r.Name, r.Capacity = "x1", 0 }), code: "invalid", msg: "capacity 0 must be between 1 and 10000"},
		{name: "fail/capacity-negative", body: base(func(r *enrollRequest) { r.Name, r.Capacity = "x1", -3 }), code: "invalid", msg: "capacity -3"},
		{name: "fail/capacity-huge", body: base(func(r *enrollRequest) { r.Name, r.Capacity = "x1", 10001 }), code: "invalid", msg: "capacity 10001"},
		{name: "fail/isolation-unknown", body: base(func(r *enrollRequest) { r.Name, r.Isolation = "x1", []string{"standard", "vm"} }), code: "invalid", msg: `isolation "vm"`},
		{name: "fail/label-key", body: base(func(r *enrollRequest) { r.Name, r.Labels = "x1", map[string]string{"-zone": "eu"} }), code: "invalid", msg: `label key "-zone"`},
		{name: "fail/label-value", body: base(func(r *enrollRequest) { r.Name, r.Labels = "x1", map[string]string{"zone": "eu\n"} }), code: "invalid", msg: "label zone's value must be at most 255 printable characters"},
		{name: "fail/isolation-empty-string", body: base(func(r *enrollRequest) { r.Name, r.Isolation = "x1", []string{""} }), code: "invalid", msg: `isolation ""`},
		{name: "fail/csr-empty", body: base(func(r *enrollRequest) { r.Name, r.CSR = "x1", "" }), code: "invalid", msg: "csr must be a PEM CERTIFICATE REQUEST"},
		{name: "fail/csr-not-pem", body: base(func(r *enrollRequest) { r.Name, r.CSR = "x1", "MIIB..." }), code: "invalid", msg: "csr must be a PEM CERTIFICATE REQUEST"},
		{name: "fail/csr-is-certificate", body: base(func(r *enrollRequest) { r.Name, r.CSR = "x1", certPEM }), code: "invalid", msg: "csr must be a PEM CERTIFICATE REQUEST"},
		{name: "fail/csr-garbage", body: base(func(r *enrollRequest) { r.Name, r.CSR = "x1", garbageCSR }), code: "invalid", msg: "csr does not parse"},
		{name: "fail/csr-bad-signature", body: base(func(r *enrollRequest) { r.Name, r.CSR = "x1", badSigCSR }), code: "invalid", msg: "csr signature does not verify"},
	} {
		if tc.body.Name == "x1" {
			// A distinct name, so one wrongly accepted case does not
			// change the next.
			tc.body.Name = fmt.Sprintf("x%d", i)
		}
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: tc.body})
			if tc.code != "" {
				e.wantEnrollRefused(t, rec, tc.body.Name, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var cr certResponse
			mustJSON(t, rec, &cr)
			cert := parseCertPEM(t, cr.CertPEM)
			if role, err := pki.RoleOf(cert); err != nil || role != pki.RoleProvision {
				t.Errorf("role %q, %v; want provision", role, err)
			}
			if cert.Subject.CommonName != tc.wantCN {
				t.Errorf("CN %q, want %q (the CSR's subject must be ignored)", cert.Subject.CommonName, tc.wantCN)
			}
			if cr.CAPEM != string(e.ca.CertPEM) {
				t.Errorf("ca in the answer is not the CA")
			}
			pool := x509.NewCertPool()
			pool.AddCert(e.ca.Cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("certificate does not verify as a client: %v", err)
			}
			if !cr.NotAfter.Equal(cert.NotAfter) {
				t.Errorf("not_after %v, cert %v", cr.NotAfter, cert.NotAfter)
			}
			n, err := e.st.NodeByName(context.Background(), tc.body.Name)
			if err != nil {
				t.Fatalf("node not stored: %v", err)
			}
			if n.ID != cr.NodeID || n.URL != tc.wantURL || n.State != airlock.NodeReady || n.Capacity != tc.body.Capacity ||
				n.CertSerial != cert.SerialNumber.Text(16) {
				t.Errorf("stored node %+v", n)
			}
			var list []nodeView
			mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/nodes", Bearer: e.adminTok}), &list)
			i := slices.IndexFunc(list, func(v nodeView) bool { return v.Name == tc.body.Name })
			if i < 0 {
				t.Fatalf("node %s not listed in %+v", tc.body.Name, list)
			}
			v := list[i]
			wantIso := tc.body.Isolation
			if len(wantIso) == 0 {
				wantIso = []string{"standard"}
			}
			if v.URL != tc.wantURL || v.State != "ready" || v.Capacity != tc.body.Capacity || !slices.Equal(v.Isolation, wantIso) || v.Active != 0 {
				t.Errorf("listed node %+v", v)
			}
		})
	}
}

func TestListNodes(t *testing.T) {
	e := newEnv(t)
	n := e.addNode("n1", 2)
	e.addSession(e.user, "ws", n.ID, airlock.SessionReady)
	e.addSession(e.user, "ws", n.ID, airlock.SessionStopped)
	var list []nodeView
	mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/nodes", Bearer: e.adminTok}), &list)
	if len(list) != 1 || list[0].Active != 1 {
		t.Errorf("nodes %+v, want n1 with 1 active session", list)
	}
	wantError(t, e.do(req{Method: "GET", Path: "/api/v1/nodes", Bearer: e.userTok}), "forbidden", "admin role")
}

func TestNodeCertEndpoints(t *testing.T) {
	e := newEnv(t)
	nodeCert := e.enrollNode("n1", "https://10.0.0.5:2376")
	adminB, err := e.ca.Issue(pki.IssueRequest{Role: pki.RoleAdmin, Name: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	infraB, _ := e.ca.Issue(pki.IssueRequest{Role: pki.RoleInfra, Name: "infra.example"})
	agentB, _ := e.ca.Issue(pki.IssueRequest{Role: pki.RoleAgent, Name: "agent"})
	strayB, _ := e.ca.Issue(pki.IssueRequest{Role: pki.RoleProvision, Name: "10.0.0.5"})
	admin, infra, agent, stray := parseCertPEM(t, string(adminB.CertPEM)), parseCertPEM(t, string(infraB.CertPEM)),
		parseCertPEM(t, string(agentB.CertPEM)), parseCertPEM(t, string(strayB.CertPEM))
	csr, _ := newCSR(t, "n1")

	for _, ep := range []struct {
		path string
		body any
		ok   int
	}{
		{"/api/v1/nodes/heartbeat", nil, http.StatusNoContent},
		{"/api/v1/nodes/renew", renewRequest{CSR: csr}, http.StatusOK},
	} {
		for _, tc := range []struct {
			name   string
			tls    *tls.ConnectionState
			bearer string
			code   string
			msg    string
		}{
			{name: "fail/no-tls", code: "unauthorized", msg: "client certificate is required"},
			{name: "fail/tls-without-cert", tls: &tls.ConnectionState{HandshakeComplete: true}, code: "unauthorized", msg: "client certificate is required"},
			{name: "fail/admin-bearer", bearer: e.adminTok, code: "unauthorized", msg: "client certificate is required"},
			{name: "fail/admin-cert", tls: peer(admin), code: "forbidden", msg: "provision certificate is required"},
			{name: "fail/infra-cert", tls: peer(infra), code: "forbidden", msg: "provision certificate is required"},
			{name: "fail/agent-cert", tls: peer(agent), code: "forbidden", msg: "provision certificate is required"},
			{name: "fail/not-enrolled", tls: peer(stray), code: "forbidden", msg: "belongs to no enrolled node"},
		} {
			t.Run(strings.TrimPrefix(ep.path, "/api/v1/nodes/")+"/"+tc.name, func(t *testing.T) {
				wantError(t, e.do(req{Method: "POST", Path: ep.path, Bearer: tc.bearer, Body: ep.body, TLS: tc.tls}), tc.code, tc.msg)
			})
		}
	}

	t.Run("heartbeat/ok", func(t *testing.T) {
		e.clk.Advance(time.Minute)
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(nodeCert)}), http.StatusNoContent)
		n, _ := e.st.NodeByName(context.Background(), "n1")
		if !n.LastHeartbeat.Equal(e.clk.Now()) {
			t.Errorf("last heartbeat %v, want %v", n.LastHeartbeat, e.clk.Now())
		}
	})
	t.Run("heartbeat/ok-down-comes-back", func(t *testing.T) {
		n, _ := e.st.NodeByName(context.Background(), "n1")
		n.State = airlock.NodeDown
		if err := e.st.UpdateNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(nodeCert)}), http.StatusNoContent)
		if n, _ = e.st.NodeByName(context.Background(), "n1"); n.State != airlock.NodeReady {
			t.Errorf("state %s after a heartbeat, want ready", n.State)
		}
	})
	t.Run("heartbeat/ok-draining-stays", func(t *testing.T) {
		n, _ := e.st.NodeByName(context.Background(), "n1")
		if _, err := e.st.SetNodeDraining(context.Background(), n.ID, true, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		n.State = airlock.NodeDown
		_ = e.st.UpdateNode(context.Background(), n)
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(nodeCert)}), http.StatusNoContent)
		if n, _ = e.st.NodeByName(context.Background(), "n1"); n.State != airlock.NodeReady || !n.Draining {
			t.Errorf("state %s, draining %v after a heartbeat, want ready and still draining", n.State, n.Draining)
		}
		if _, err := e.st.SetNodeDraining(context.Background(), n.ID, false, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		name, csr, msg string
	}{
		{"renew/fail/csr-empty", "", "csr must be a PEM CERTIFICATE REQUEST"},
		{"renew/fail/csr-is-certificate", string(adminB.CertPEM), "csr must be a PEM CERTIFICATE REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/renew", Body: renewRequest{CSR: tc.csr}, TLS: peer(nodeCert)}), "invalid", tc.msg)
		})
	}
	t.Run("renew/ok", func(t *testing.T) {
		newCSRPEM, key := newCSR(t, "evil.example")
		rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/renew", Body: renewRequest{CSR: newCSRPEM}, TLS: peer(nodeCert)})
		wantStatus(t, rec, http.StatusOK)
		var cr certResponse
		mustJSON(t, rec, &cr)
		renewed := parseCertPEM(t, cr.CertPEM)
		if role, _ := pki.RoleOf(renewed); role != pki.RoleProvision {
			t.Errorf("renewed role %q", role)
		}
		if renewed.Subject.CommonName != "10.0.0.5" {
			t.Errorf("renewed CN %q, want the node's host", renewed.Subject.CommonName)
		}
		if !renewed.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
			t.Errorf("renewed certificate is not for the CSR's key")
		}
		if renewed.SerialNumber.Cmp(nodeCert.SerialNumber) == 0 {
			t.Errorf("renewal kept the serial")
		}
		n, _ := e.st.NodeByName(context.Background(), "n1")
		if n.CertSerial != renewed.SerialNumber.Text(16) || cr.NodeID != n.ID {
			t.Errorf("node serial %s, renewed %s", n.CertSerial, renewed.SerialNumber.Text(16))
		}
		if n.CertPrevSerial != nodeCert.SerialNumber.Text(16) {
			t.Errorf("node previous serial %q, want the renewed-away %s", n.CertPrevSerial, nodeCert.SerialNumber.Text(16))
		}
		// The new certificate identifies the node, and so does the previous
		// one: a node whose renewal answer was lost holds only that.
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(renewed)}), http.StatusNoContent)
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(nodeCert)}), http.StatusNoContent)

		// The answer was lost: the node renews again with the previous
		// certificate. The one it never received stops identifying it.
		rec = e.do(req{Method: "POST", Path: "/api/v1/nodes/renew", Body: renewRequest{CSR: newCSRPEM}, TLS: peer(nodeCert)})
		wantStatus(t, rec, http.StatusOK)
		var again certResponse
		mustJSON(t, rec, &again)
		second := parseCertPEM(t, again.CertPEM)
		n, _ = e.st.NodeByName(context.Background(), "n1")
		if n.CertSerial != second.SerialNumber.Text(16) || n.CertPrevSerial != nodeCert.SerialNumber.Text(16) {
			t.Errorf("after a renewal with the previous certificate: serial %s prev %s, want %s and %s",
				n.CertSerial, n.CertPrevSerial, second.SerialNumber.Text(16), nodeCert.SerialNumber.Text(16))
		}
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(second)}), http.StatusNoContent)
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(renewed)}), "forbidden", "no enrolled node")

		// A normal renewal then retires the oldest certificate.
		rec = e.do(req{Method: "POST", Path: "/api/v1/nodes/renew", Body: renewRequest{CSR: newCSRPEM}, TLS: peer(second)})
		wantStatus(t, rec, http.StatusOK)
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(nodeCert)}), "forbidden", "no enrolled node")
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(second)}), http.StatusNoContent)
	})
}

// TestNodeHeartbeatOverTLS runs a node heartbeat through a real mutual-TLS
// handshake, as a listener with VerifyClientCertIfGiven sees it.
func TestNodeHeartbeatOverTLS(t *testing.T) {
	e := newEnv(t)
	csr, key := newCSR(t, "n1")
	rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: enrollRequest{
		Token: e.joinToken(), Name: "n1", URL: "https://127.0.0.1:2376", Capacity: 1, CSR: csr}})
	wantStatus(t, rec, http.StatusOK)
	var cr certResponse
	mustJSON(t, rec, &cr)

	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	hs := httptest.NewUnstartedServer(e.srv)
	hs.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	hs.StartTLS()
	defer hs.Close()

	keyDER, _ := x509.MarshalECPrivateKey(key)
	pair, err := tls.X509KeyPair([]byte(cr.CertPEM), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  int
	}{
		{"ok/node-cert", []tls.Certificate{pair}, http.StatusNoContent},
		{"fail/no-cert", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hs.Client()
			tr := c.Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = tc.certs
			c.Transport = tr
			defer tr.CloseIdleConnections()
			resp, err := c.Post(hs.URL+"/api/v1/nodes/heartbeat", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
		})
	}
}

func TestDeleteNode(t *testing.T) {
	e := newEnv(t)
	cert := e.enrollNode("n1", "https://10.0.0.5:2376")
	busyCert := e.enrollNode("busy", "https://10.0.0.6:2376")
	busy, _ := e.st.NodeByName(context.Background(), "busy")
	live := e.addSession(e.user, "ws", busy.ID, airlock.SessionReady)
	done := e.addSession(e.user, "ws", busy.ID, airlock.SessionStopped)

	for _, tc := range []struct {
		name, path, bearer string
		code, msg          string
	}{
		{name: "fail/user", path: "/api/v1/nodes/n1", bearer: e.userTok, code: "forbidden", msg: "admin role"},
		{name: "fail/anonymous", path: "/api/v1/nodes/n1", code: "unauthorized"},
		{name: "fail/unknown", path: "/api/v1/nodes/nope", bearer: e.adminTok, code: "not_found", msg: `node "nope" not found`},
		{name: "fail/active-sessions", path: "/api/v1/nodes/busy", bearer: e.adminTok, code: "conflict", msg: "runs 1 active sessions"},
		{name: "fail/force-not-1", path: "/api/v1/nodes/busy?force=true", bearer: e.adminTok, code: "conflict", msg: "force=1"},
		{name: "ok/idle", path: "/api/v1/nodes/n1", bearer: e.adminTok},
		{name: "ok/force", path: "/api/v1/nodes/busy?force=1", bearer: e.adminTok},
		{name: "fail/again", path: "/api/v1/nodes/n1", bearer: e.adminTok, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "DELETE", Path: tc.path, Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusNoContent)
		})
	}

	ctx := context.Background()
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		url  string
	}{{"n1", cert, "https://10.0.0.5:2376"}, {"busy", busyCert, "https://10.0.0.6:2376"}} {
		serial := c.cert.SerialNumber.Text(16)
		if ok, err := e.st.IsCertRevoked(ctx, serial); err != nil || !ok {
			t.Errorf("%s: serial %s revoked=%v, %v", c.name, serial, ok, err)
		}
		e.revokedMu.Lock()
		told := slices.Contains(e.revoked, serial)
		e.revokedMu.Unlock()
		if !told {
			t.Errorf("%s: OnRevoke not told %s", c.name, serial)
		}
		if !slices.Contains(e.drv.forgottenURLs(), c.url) {
			t.Errorf("%s: driver not told to forget %s (got %v)", c.name, c.url, e.drv.forgottenURLs())
		}
		if _, err := e.st.NodeByName(ctx, c.name); airlock.ErrorCode(err) != airlock.ENOTFOUND {
			t.Errorf("%s still stored: %v", c.name, err)
		}
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(c.cert)}), "forbidden")
	}
	if s := e.session(live.ID); s.State != airlock.SessionFailed || !strings.Contains(s.Reason, "busy") {
		t.Errorf("live session on a removed node: %s %q, want failed naming the node", s.State, s.Reason)
	}
	if s := e.session(done.ID); s.State != airlock.SessionStopped {
		t.Errorf("stopped session became %s", s.State)
	}
	var list []nodeView
	mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/nodes", Bearer: e.adminTok}), &list)
	if len(list) != 0 {
		t.Errorf("nodes listed after removal: %+v", list)
	}
}

func TestDockerEnv(t *testing.T) {
	e := newEnv(t)
	e.enrollNode("n1", "https://10.0.0.5:2376")
	for _, tc := range []struct {
		name, path, bearer string
		code, msg          string
	}{
		{name: "ok/admin", path: "/api/v1/nodes/n1/docker-env", bearer: e.adminTok},
		{name: "fail/user", path: "/api/v1/nodes/n1/docker-env", bearer: e.userTok, code: "forbidden", msg: "admin role"},
		{name: "fail/anonymous", path: "/api/v1/nodes/n1/docker-env", code: "unauthorized"},
		{name: "fail/unknown-node", path: "/api/v1/nodes/nope/docker-env", bearer: e.adminTok, code: "not_found", msg: `node "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: tc.path, Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var de dockerEnvResponse
			mustJSON(t, rec, &de)
			if de.DockerHost != "tcp://10.0.0.5:2376" {
				t.Errorf("docker_host %q", de.DockerHost)
			}
			cert := parseCertPEM(t, de.CertPEM)
			if role, err := pki.RoleOf(cert); err != nil || role != pki.RoleAdmin {
				t.Errorf("role %q, %v; want admin", role, err)
			}
			if cert.Subject.CommonName != "admin" {
				t.Errorf("CN %q, want the caller", cert.Subject.CommonName)
			}
			if d := time.Until(cert.NotAfter); d > 8*time.Hour+time.Minute {
				t.Errorf("admin certificate lives %v", d)
			}
			if _, err := tls.X509KeyPair([]byte(de.CertPEM), []byte(de.KeyPEM)); err != nil {
				t.Errorf("key does not match certificate: %v", err)
			}
			if de.CAPEM != string(e.ca.CertPEM) {
				t.Errorf("ca is not the CA")
			}
		})
	}
}

// TestNoCA: a server without a CA says so the same way on every route
// that needs one, instead of failing as an internal error.
func TestNoCA(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CA = nil })
	// A node enrolled elsewhere, whose certificate the listener accepted.
	otherCA, err := pki.InitCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := otherCA.Issue(pki.IssueRequest{Role: pki.RoleProvision, Name: "10.0.0.5"})
	cert := parseCertPEM(t, string(b.CertPEM))
	e.addNode("n1", 2, func(n *airlock.Node) { n.CertSerial = cert.SerialNumber.Text(16) })
	csr, _ := newCSR(t, "n1")
	for _, tc := range []struct {
		name string
		r    req
		code string
	}{
		{"fail/join-token", req{Method: "POST", Path: "/api/v1/nodes/join-tokens", Bearer: e.adminTok, Body: map[string]any{}}, "unavailable"},
		{"fail/enroll", req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: enrollRequest{Token: "ALJT-1-x", Name: "n2", URL: "https://n2.example", Capacity: 1, CSR: csr}}, "unavailable"},
		{"ok/heartbeat", req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(cert)}, ""},
		{"fail/renew", req{Method: "POST", Path: "/api/v1/nodes/renew", Body: renewRequest{CSR: csr}, TLS: peer(cert)}, "unavailable"},
		{"fail/docker-env", req{Method: "POST", Path: "/api/v1/nodes/n1/docker-env", Bearer: e.adminTok}, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.r)
			if tc.code == "" {
				wantStatus(t, rec, http.StatusNoContent)
				return
			}
			wantError(t, rec, tc.code)
		})
	}
}

// Both certificates on record identify a node, so removing it revokes
// both: the one a renewal replaced must not outlive the node.
func TestDeleteRenewedNodeRevokesBoth(t *testing.T) {
	e := newEnv(t)
	old := e.enrollNode("n1", "https://10.0.0.5:2376")
	csr, _ := newCSR(t, "n1")
	rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/renew", Body: renewRequest{CSR: csr}, TLS: peer(old)})
	wantStatus(t, rec, http.StatusOK)
	var cr certResponse
	mustJSON(t, rec, &cr)
	renewed := parseCertPEM(t, cr.CertPEM)
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/nodes/n1", Bearer: e.adminTok}), http.StatusNoContent)
	for _, c := range []*x509.Certificate{old, renewed} {
		serial := c.SerialNumber.Text(16)
		if ok, err := e.st.IsCertRevoked(context.Background(), serial); err != nil || !ok {
			t.Errorf("serial %s revoked=%v, %v", serial, ok, err)
		}
		e.revokedMu.Lock()
		told := slices.Contains(e.revoked, serial)
		e.revokedMu.Unlock()
		if !told {
			t.Errorf("OnRevoke not told %s", serial)
		}
	}
}

// wantEnrollRefused checks an enrollment's refusal, and that it stored no
// node (a conflict names a node that exists already).
func (e *env) wantEnrollRefused(t *testing.T, rec *httptest.ResponseRecorder, name, code, msg string) {
	t.Helper()
	wantError(t, rec, code, msg)
	if code != "conflict" {
		if _, err := e.st.NodeByName(context.Background(), name); err == nil {
			t.Errorf("a refused enrollment stored node %q", name)
		}
	}
}

// TestDrainNode: a drained node keeps its sessions and gets no new ones;
// undrained, it takes them again. Only admins drain.
func TestDrainNode(t *testing.T) {
	e := sessionEnv(t)
	n := e.addNode("n1", 4)
	running := e.createSession(e.userTok, "web")
	e.launched(running.ID)
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/n1/drain", Bearer: e.userTok}), http.StatusForbidden)
	rec := e.do(req{Method: "POST", Path: "/api/v1/nodes/n1/drain", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	var v nodeView
	mustJSON(t, rec, &v)
	if !v.Draining || v.Active != 1 || v.State != "ready" {
		t.Fatalf("drained node: %+v", v)
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: e.userTok, Body: map[string]any{"workspace": "web"}}),
		airlock.EUNAVAILABLE, "every ready provision node is draining")
	if s := e.session(running.ID); s.State.Final() {
		t.Fatalf("the drain ended a running session: %s", s.State)
	}
	// Beside an undrained node, the drained one, with more room, is
	// still passed over.
	e.addNode("n2", 4)
	if s := e.createSession(e.userTok, "web"); s.Node == n.ID {
		t.Fatalf("a session was placed on the drained node")
	}
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/n1/undrain", Bearer: e.adminTok}), http.StatusOK)
	if got, _ := e.st.NodeByID(context.Background(), n.ID); got.Draining {
		t.Fatal("undrain left the node draining")
	}
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/nope/drain", Bearer: e.adminTok}), http.StatusNotFound)
}
