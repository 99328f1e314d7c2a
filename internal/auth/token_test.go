package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A fixed, valid token for the malformed-input table. The secret's last
// character is "a": 32 bytes leave one data bit and four zero bits there.
const (
	sampleID     = "abcdefghij27"
	sampleSecret = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwe2ltmvsa"
	sampleToken  = "alk_" + sampleID + "_" + sampleSecret
)

func TestNewTokenRoundTrip(t *testing.T) {
	for _, kind := range []TokenKind{KindAPI, KindWeb, KindAgent, KindRegister} {
		t.Run(string(kind), func(t *testing.T) {
			tok, err := NewToken(kind)
			if err != nil {
				t.Fatal(err)
			}
			s := tok.String()
			if len(s) != tokenLen || !strings.HasPrefix(s, string(kind)+"_") {
				t.Fatalf("String() = %d bytes with prefix %q; want %d bytes starting %s_", len(s), s[:4], tokenLen, kind)
			}
			got, err := ParseToken(s)
			if err != nil {
				t.Fatalf("ParseToken(String()): %v", err)
			}
			if got != tok {
				t.Fatalf("ParseToken(String()) = %+v, want %+v", got, tok)
			}
			if !VerifyTokenHash(got, tok.Hash()) {
				t.Fatal("VerifyTokenHash(parsed, original.Hash()) = false")
			}
			other, err := NewToken(kind)
			if err != nil {
				t.Fatal(err)
			}
			if other.ID == tok.ID || other.Secret == tok.Secret {
				t.Fatal("two new tokens share an ID or secret")
			}
			if VerifyTokenHash(other, tok.Hash()) {
				t.Fatal("another token verifies against this token's hash")
			}
		})
	}
}

func TestNewTokenUnknownKind(t *testing.T) {
	for _, kind := range []TokenKind{"", "ALK", "alx", "alk_", "alkk", "al"} {
		if tok, err := NewToken(kind); err == nil {
			t.Errorf("NewToken(%q) = %+v, nil; want an error", kind, tok)
		}
	}
}

func TestParseTokenValid(t *testing.T) {
	tests := []struct {
		name, in string
		want     Token
	}{
		{"api", sampleToken, Token{KindAPI, sampleID, sampleSecret}},
		{"web", "als_" + sampleID + "_" + sampleSecret, Token{KindWeb, sampleID, sampleSecret}},
		{"agent", "ala_" + sampleID + "_" + sampleSecret, Token{KindAgent, sampleID, sampleSecret}},
		{"register", "alr_" + sampleID + "_" + sampleSecret, Token{KindRegister, sampleID, sampleSecret}},
		{"secret ending in q", "alk_" + sampleID + "_" + sampleSecret[:51] + "q", Token{KindAPI, sampleID, sampleSecret[:51] + "q"}},
		{"all sevens", "alk_777777777777_" + strings.Repeat("7", 51) + "q", Token{KindAPI, "777777777777", strings.Repeat("7", 51) + "q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseToken(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseToken = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want the input back", got.String())
			}
		})
	}
}

func TestParseTokenMalformed(t *testing.T) {
	tests := []struct {
		name, in, why string
	}{
		{"empty", "", "empty"},
		{"unknown kind", "alx_" + sampleID + "_" + sampleSecret, "unknown kind"},
		{"upper-case kind", "ALK_" + sampleID + "_" + sampleSecret, "unknown kind"},
		{"join token prefix", "ALJT_" + sampleID + "_" + sampleSecret[1:], "unknown kind"},
		{"kind too long", "alkk_" + sampleID + "_" + sampleSecret, "bytes long"},
		{"no kind", "_" + sampleID + "_" + sampleSecret, "bytes long"},
		{"id too short", "alk_" + sampleID[1:] + "_" + sampleSecret, "bytes long"},
		{"id too long", "alk_" + sampleID + "a_" + sampleSecret, "bytes long"},
		{"id too long, secret too short", "alk_" + sampleID + "a_" + sampleSecret[1:], "id is not"},
		{"upper-case id", "alk_" + strings.ToUpper(sampleID) + "_" + sampleSecret, "id is not"},
		{"id with digit 1", "alk_abcdefghij21_" + sampleSecret, "id is not"},
		{"id with digit 0", "alk_abcdefghij20_" + sampleSecret, "id is not"},
		{"id with digit 8", "alk_abcdefghij28_" + sampleSecret, "id is not"},
		{"id with dash", "alk_abcdef-hij27_" + sampleSecret, "id is not"},
		{"secret too short", "alk_" + sampleID + "_" + sampleSecret[1:], "bytes long"},
		{"secret too long", sampleToken + "a", "bytes long"},
		{"upper-case secret", "alk_" + sampleID + "_" + strings.ToUpper(sampleSecret), "secret is not 52"},
		{"secret with digit 9", "alk_" + sampleID + "_9" + sampleSecret[1:], "secret is not 52"},
		{"secret with padding", "alk_" + sampleID + "_" + sampleSecret[:51] + "=", "secret is not 52"},
		{"secret non-canonical", "alk_" + sampleID + "_" + sampleSecret[:51] + "b", "canonically"},
		{"secret with newline", "alk_" + sampleID + "_" + sampleSecret[:20] + "\n" + sampleSecret[21:], "secret is not 52"},
		{"extra underscore in id", "alk_abcdef_hij27_" + sampleSecret, "4 underscore-separated parts"},
		{"extra underscore in secret", "alk_" + sampleID + "_" + sampleSecret[:20] + "_" + sampleSecret[21:], "4 underscore-separated parts"},
		{"dashes instead of underscores", "alk-" + sampleID + "-" + sampleSecret, "1 underscore-separated parts"},
		{"one separator missing", "alk" + sampleID + "a_" + sampleSecret, "2 underscore-separated parts"},
		{"leading space", " " + sampleToken[1:], "unknown kind"},
		{"trailing space", sampleToken[:tokenLen-1] + " ", "secret is not 52"},
		{"surrounding whitespace", " " + sampleToken + "\n", "bytes long"},
		{"bearer prefix", "Bearer " + sampleToken, "bytes long"},
		{"non-ascii", "alk_" + sampleID[:10] + "é_" + sampleSecret, "id is not"},
		{"nul byte", "alk_" + sampleID[:11] + "\x00_" + sampleSecret, "id is not"},
		{"huge", strings.Repeat("_", 1<<20), "bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseToken(tt.in)
			if err == nil {
				t.Fatalf("ParseToken = %+v, nil; want an error", tok)
			}
			if !errors.Is(err, ErrMalformedToken) {
				t.Errorf("error %v does not wrap ErrMalformedToken", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
			if tok != (Token{}) {
				t.Errorf("ParseToken returned %+v with an error", tok)
			}
			if !tokenErrRE.MatchString(err.Error()) {
				t.Errorf("error %q is not one of the fixed messages, so it may echo input", err)
			}
		})
	}
}

// The hash is what the store keeps, so its input must never change: this
// pins it for a fixed token.
func TestTokenHashStable(t *testing.T) {
	tok := Token{KindAPI, sampleID, sampleSecret}
	const want = "871a7e181c7b4bdcb51c8bb8a20132160d7ea4d66379829aadc9396ccdf4c79a"
	got := hex.EncodeToString(tok.Hash())
	if got != want {
		t.Fatalf("Hash() = %s, want %s", got, want)
	}
}

func TestVerifyTokenHash(t *testing.T) {
	tok := Token{KindAPI, sampleID, sampleSecret}
	stored := tok.Hash()
	flipped := bytes.Clone(stored)
	flipped[31] ^= 1
	tests := []struct {
		name   string
		tok    Token
		stored []byte
		want   bool
	}{
		{"match", tok, stored, true},
		{"nil stored", tok, nil, false},
		{"empty stored", tok, []byte{}, false},
		{"truncated stored", tok, stored[:16], false},
		{"flipped bit", tok, flipped, false},
		{"other kind, same id and secret", Token{KindWeb, sampleID, sampleSecret}, stored, false},
		{"other id", Token{KindAPI, "abcdefghij22", sampleSecret}, stored, false},
		{"other secret", Token{KindAPI, sampleID, sampleSecret[:51] + "q"}, stored, false},
		{"zero token against its own hash", Token{}, Token{}.Hash(), false},
		{"invalid token against its own hash", Token{"xyz", "x", "y"}, Token{"xyz", "x", "y"}.Hash(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyTokenHash(tt.tok, tt.stored); got != tt.want {
				t.Fatalf("VerifyTokenHash = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTokenLogValueHidesSecret(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	logger.Info("issued", "token", Token{KindAPI, sampleID, sampleSecret})
	if strings.Contains(buf.String(), sampleSecret) {
		t.Fatalf("log line contains the secret: %s", buf.String())
	}
	if !strings.Contains(buf.String(), sampleID) {
		t.Fatalf("log line lacks the token ID: %s", buf.String())
	}
}
