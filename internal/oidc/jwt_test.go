package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// testKey is the test's own RS256 signing key, for the ID tokens Hydra would
// not issue. RS256 because that is what Hydra announces in
// id_token_signing_alg_values_supported, so the Provider accepts it.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func newTestKey(t *testing.T, kid string) *testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, priv: k}
}

// jwk is the public key as a JSON Web Key.
func (k *testKey) jwk() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]any{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
		"n": b64(k.priv.N.Bytes()),
		"e": b64(big.NewInt(int64(k.priv.E)).Bytes()),
	}
}

// sign makes a compact JWS of claims with RS256.
func (k *testKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	head := encodeSegment(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": k.kid})
	input := head + "." + encodeSegment(t, claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwtClaims decodes the claims of a compact JWS without verifying it.
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
