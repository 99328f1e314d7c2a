package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// fakeCADER stands in for a CA certificate: PinsCA only hashes the bytes.
var fakeCADER = []byte("0\x82\x01\x0a not really a certificate, but DER-shaped enough")

// fingerprintOf computes a fingerprint the way pki.CA.Fingerprint does.
func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

const (
	sampleFPHex      = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	sampleJoinSecret = "mfrggzdfmztwq2lknnwg23tpobyxe43u"
	sampleJoinToken  = "ALJT-1-" + sampleFPHex + "-" + sampleJoinSecret
)

func TestJoinTokenRoundTrip(t *testing.T) {
	fp := fingerprintOf(fakeCADER)
	j, err := NewJoinToken(fp)
	if err != nil {
		t.Fatal(err)
	}
	if j.CAFingerprint != fp {
		t.Fatalf("CAFingerprint = %q, want %q", j.CAFingerprint, fp)
	}
	s := j.String()
	if want := "ALJT-1-" + strings.TrimPrefix(fp, "sha256:") + "-"; !strings.HasPrefix(s, want) || len(s) != len(want)+joinSecretLen {
		t.Fatalf("String() = %q, want %q followed by %d secret characters", s, want, joinSecretLen)
	}
	for _, in := range []string{s, "  " + s + "\n", "\t" + s + "\r\n"} {
		got, err := ParseJoinToken(in)
		if err != nil {
			t.Fatalf("ParseJoinToken(%q): %v", in, err)
		}
		if got != j {
			t.Fatalf("ParseJoinToken = %+v, want %+v", got, j)
		}
	}
	if !j.PinsCA(fakeCADER) {
		t.Fatal("PinsCA(the CA) = false")
	}
	other, err := NewJoinToken(fp)
	if err != nil {
		t.Fatal(err)
	}
	if other.Secret == j.Secret {
		t.Fatal("two join tokens share a secret")
	}
}

func TestNewJoinTokenBadFingerprint(t *testing.T) {
	tests := []struct{ name, fp string }{
		{"empty", ""},
		{"bare hex", sampleFPHex},
		{"sha1 prefix", "sha1:" + sampleFPHex},
		{"upper-case prefix", "SHA256:" + sampleFPHex},
		{"upper-case hex", "sha256:" + strings.ToUpper(sampleFPHex)},
		{"63 digits", "sha256:" + sampleFPHex[1:]},
		{"65 digits", "sha256:" + sampleFPHex + "0"},
		{"not hex", "sha256:" + strings.Repeat("g", 64)},
		{"colon-separated", "sha256:" + strings.Repeat("ab:", 21) + "a"},
		{"trailing space", "sha256:" + sampleFPHex + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if j, err := NewJoinToken(tt.fp); err == nil {
				t.Fatalf("NewJoinToken = %+v, nil; want an error", j)
			}
		})
	}
}

func TestParseJoinTokenValid(t *testing.T) {
	want := JoinToken{CAFingerprint: "sha256:" + sampleFPHex, Secret: sampleJoinSecret}
	for _, in := range []string{sampleJoinToken, " " + sampleJoinToken, sampleJoinToken + "\n", "\n\t " + sampleJoinToken + " \r\n"} {
		got, err := ParseJoinToken(in)
		if err != nil {
			t.Fatalf("ParseJoinToken(%q): %v", in, err)
		}
		if got != want {
			t.Fatalf("ParseJoinToken(%q) = %+v, want %+v", in, got, want)
		}
		if got.String() != strings.TrimSpace(in) {
			t.Fatalf("String() = %q, want the trimmed input", got.String())
		}
	}
}

func TestParseJoinTokenMalformed(t *testing.T) {
	tests := []struct {
		name, in, why string
	}{
		{"empty", "", "empty"},
		{"only whitespace", " \n\t ", "empty"},
		{"swarm token", "SWMTKN-1-" + sampleFPHex + "-" + sampleJoinSecret, "does not start with ALJT-"},
		{"lower-case prefix", "aljt-1-" + sampleFPHex + "-" + sampleJoinSecret, "does not start with ALJT-"},
		{"version 2", "ALJT-2-" + sampleFPHex + "-" + sampleJoinSecret, "unsupported version"},
		{"version 01", "ALJT-01-" + sampleFPHex + "-" + sampleJoinSecret, "unsupported version"},
		{"missing version", "ALJT-" + sampleFPHex + "-" + sampleJoinSecret, "3 dash-separated parts"},
		{"extra dash", "ALJT-1-" + sampleFPHex + "-" + sampleJoinSecret[:10] + "-" + sampleJoinSecret[10:], "5 dash-separated parts"},
		{"trailing dash", sampleJoinToken + "-", "5 dash-separated parts"},
		{"underscores", strings.ReplaceAll(sampleJoinToken, "-", "_"), "1 dash-separated parts"},
		{"fingerprint with prefix", "ALJT-1-sha256:" + sampleFPHex + "-" + sampleJoinSecret, "CA fingerprint"},
		{"fingerprint short", "ALJT-1-" + sampleFPHex[1:] + "-" + sampleJoinSecret, "CA fingerprint"},
		{"fingerprint long", "ALJT-1-" + sampleFPHex + "0-" + sampleJoinSecret, "CA fingerprint"},
		{"fingerprint upper-case", "ALJT-1-" + strings.ToUpper(sampleFPHex) + "-" + sampleJoinSecret, "CA fingerprint"},
		{"fingerprint not hex", "ALJT-1-" + strings.Repeat("z", 64) + "-" + sampleJoinSecret, "CA fingerprint"},
		{"secret short", "ALJT-1-" + sampleFPHex + "-" + sampleJoinSecret[1:], "secret is not"},
		{"secret long", sampleJoinToken + "a", "secret is not"},
		{"secret upper-case", "ALJT-1-" + sampleFPHex + "-" + strings.ToUpper(sampleJoinSecret), "secret is not"},
		{"secret with digit 1", "ALJT-1-" + sampleFPHex + "-1" + sampleJoinSecret[1:], "secret is not"},
		{"secret padded", "ALJT-1-" + sampleFPHex + "-" + sampleJoinSecret[:31] + "=", "secret is not"},
		{"inner whitespace", "ALJT-1-" + sampleFPHex + "-" + sampleJoinSecret[:10] + " " + sampleJoinSecret[11:], "secret is not"},
		{"inner newline", "ALJT-1-" + sampleFPHex + "-\n" + sampleJoinSecret, "secret is not"},
		{"two tokens", sampleJoinToken + " " + sampleJoinToken, "7 dash-separated parts"},
		{"oversized", strings.Repeat(" ", 5000) + sampleJoinToken, "longer than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseJoinToken(tt.in)
			if err == nil {
				t.Fatalf("ParseJoinToken = %+v, nil; want an error", j)
			}
			if !errors.Is(err, ErrMalformedToken) {
				t.Errorf("error %v does not wrap ErrMalformedToken", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
			if !joinTokenErrRE.MatchString(err.Error()) {
				t.Errorf("error %q is not one of the fixed messages, so it may echo input", err)
			}
			if j != (JoinToken{}) {
				t.Errorf("ParseJoinToken returned %+v with an error", j)
			}
		})
	}
}

func TestJoinTokenPinsCA(t *testing.T) {
	j := JoinToken{CAFingerprint: fingerprintOf(fakeCADER), Secret: sampleJoinSecret}
	flipped := bytes.Clone(fakeCADER)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		j    JoinToken
		der  []byte
		want bool
	}{
		{"the pinned CA", j, fakeCADER, true},
		{"one bit off", j, flipped, false},
		{"truncated", j, fakeCADER[:len(fakeCADER)-1], false},
		{"nil", j, nil, false},
		{"zero token", JoinToken{}, fakeCADER, false},
		{"zero token, empty certificate", JoinToken{}, nil, false},
		{"fingerprint without prefix", JoinToken{CAFingerprint: strings.TrimPrefix(j.CAFingerprint, "sha256:")}, fakeCADER, false},
		{"truncated fingerprint", JoinToken{CAFingerprint: j.CAFingerprint[:len(j.CAFingerprint)-2]}, fakeCADER, false},
		{"fingerprint of the empty input, nil certificate", JoinToken{CAFingerprint: fingerprintOf(nil)}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.j.PinsCA(tt.der); got != tt.want {
				t.Fatalf("PinsCA = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinTokenSecretHash(t *testing.T) {
	j := JoinToken{CAFingerprint: "sha256:" + sampleFPHex, Secret: sampleJoinSecret}
	want := sha256.Sum256([]byte(sampleJoinSecret))
	if !bytes.Equal(j.SecretHash(), want[:]) {
		t.Fatalf("SecretHash() = %x, want %x", j.SecretHash(), want)
	}
	other := JoinToken{CAFingerprint: j.CAFingerprint, Secret: sampleJoinSecret[:31] + "b"}
	if bytes.Equal(j.SecretHash(), other.SecretHash()) {
		t.Fatal("different secrets hash the same")
	}
}

func TestJoinTokenLogValueHidesSecret(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("join", "token", JoinToken{CAFingerprint: "sha256:" + sampleFPHex, Secret: sampleJoinSecret})
	if strings.Contains(buf.String(), sampleJoinSecret) {
		t.Fatalf("log line contains the secret: %s", buf.String())
	}
}
