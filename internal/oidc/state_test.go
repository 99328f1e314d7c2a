package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedKey is a state key for the unit tests and the fuzz seeds.
var fixedKey = bytes.Repeat([]byte{7}, StateKeySize)

func testSealer(t testing.TB) *sealer {
	t.Helper()
	s, err := newSealer(fixedKey, "https://idp.test", "airlock")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodState() LoginState {
	return LoginState{
		State:    "c3RhdGUtc3RhdGUtc3RhdGUtc3RhdGUtc3RhdGUtMQ",
		Nonce:    "bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Utbm9uY2UtMQ",
		Verifier: "dmVyaWZpZXItdmVyaWZpZXItdmVyaWZpZXItdmVyaQ",
		ReturnTo: "/workspaces",
		Expires:  1_900_000_000,
	}
}

// sealRaw seals arbitrary plaintext the way Seal does, for cases that need
// a well-sealed but ill-formed state.
func sealRaw(s *sealer, plain string) string {
	nonce := make([]byte, s.aead.NonceSize())
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), s.ad))
}

func TestSealOpen(t *testing.T) {
	s := testSealer(t)
	good := s.Seal(goodState())
	if got, err := s.Open(good); err != nil || got != goodState() {
		t.Fatalf("Open(Seal(x)) = %+v, %v", got, err)
	}
	if again := s.Seal(goodState()); again == good {
		t.Fatal("two seals of one state are equal: the GCM nonce is not random")
	}

	otherKey, _ := newSealer(bytes.Repeat([]byte{8}, StateKeySize), "https://idp.test", "airlock")
	otherIssuer, _ := newSealer(fixedKey, "https://other.test", "airlock")
	otherClient, _ := newSealer(fixedKey, "https://idp.test", "another")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, sealedPrefix))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	flipped := sealedPrefix + base64.RawURLEncoding.EncodeToString(raw)
	noNonce := goodState()
	noNonce.Nonce = ""
	badReturn := goodState()
	badReturn.ReturnTo = "//evil.test/"

	cases := []struct {
		name, text, errText string
	}{
		{"empty (no cookie)", "", "cookie is missing"},
		{"too long", sealedPrefix + strings.Repeat("A", maxSealedLen), "more than 3000"},
		{"no version", strings.TrimPrefix(good, sealedPrefix), "not of format v1"},
		{"another version", "v2." + strings.TrimPrefix(good, sealedPrefix), "not of format v1"},
		{"not base64url", sealedPrefix + "a+b/c", "not base64url"},
		{"too short", sealedPrefix + "AAAA", "too short"},
		{"a bit flipped", flipped, "does not open"},
		{"truncated", good[:len(good)-4], "does not open"},
		{"another key", otherKey.Seal(goodState()), "does not open"},
		{"another issuer", otherIssuer.Seal(goodState()), "does not open"},
		{"another client", otherClient.Seal(goodState()), "does not open"},
		{"not JSON", sealRaw(s, "state"), "does not decode"},
		{"unknown field", sealRaw(s, `{"s":"a","n":"b","v":"c","r":"/","e":1,"x":1}`), "does not decode"},
		{"trailing data", sealRaw(s, `{"s":"a","n":"b","v":"c","r":"/","e":1} {}`), "trailing data"},
		{"no nonce", s.Seal(noNonce), "has no nonce"},
		{"state not base64url", sealRaw(s, `{"s":"a b","n":"b","v":"c","r":"/","e":1}`), "state is not up to 128 base64url"},
		{"return path elsewhere", s.Seal(badReturn), "return path"},
		{"no expiry", sealRaw(s, `{"s":"a","n":"b","v":"c","r":"/","e":0}`), "no expiry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Open(tc.text)
			if !errors.Is(err, ErrStateUnknown) || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("Open error %v, want ErrStateUnknown with %q", err, tc.errText)
			}
			if got != (LoginState{}) {
				t.Fatalf("Open returned %+v with an error", got)
			}
		})
	}
}

func TestCheckReturnTo(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "/", true},
		{"/", "/", true},
		{"/workspaces?tab=mine#top", "/workspaces?tab=mine#top", true},
		{"/a/b/../c", "/a/b/../c", true},
		{"//evil.test/", "", false},
		{"/\\evil.test/", "", false},
		{"https://evil.test/", "", false},
		{"evil.test", "", false},
		{"javascript:alert(1)", "", false},
		{"/a\nb", "", false},
		{"/a\x00", "", false},
		{"/" + strings.Repeat("a", maxReturnToLen), "", false},
	}
	for _, tc := range cases {
		got, err := checkReturnTo(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("checkReturnTo(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrReturnTo) {
			t.Errorf("checkReturnTo(%q) error %v is not ErrReturnTo", tc.in, err)
		}
	}
}

func TestMemorySpent(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := NewMemorySpent(func() time.Time { return now })
	ctx := context.Background()
	if err := m.Spend(ctx, "a", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Spend(ctx, "a", now.Add(time.Minute)); !errors.Is(err, ErrStateReplayed) {
		t.Fatalf("second Spend: %v, want ErrStateReplayed", err)
	}
	if err := m.Spend(ctx, "b", now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Past a's expiry and the sweep interval, a is forgotten, b is not.
	now = now.Add(2 * time.Minute)
	if err := m.Spend(ctx, "c", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d after the sweep, want 2 (b and c)", m.Len())
	}
	if err := m.Spend(ctx, "b", now.Add(time.Minute)); !errors.Is(err, ErrStateReplayed) {
		t.Fatalf("b forgotten before its expiry: %v", err)
	}

	// Many callbacks of one state at once: exactly one gets through.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 32 {
		wg.Go(func() {
			if m.Spend(ctx, "race", now.Add(time.Minute)) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent Spends of one state succeeded, want 1", wins)
	}
}
