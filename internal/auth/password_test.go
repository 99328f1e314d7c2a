package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// testParams keep argon2id fast in tests; one test below uses the defaults.
var testParams = PasswordParams{Memory: 1024, Time: 1, Threads: 1}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerifyPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
	}{
		{"minimum length", "12345678"},
		{"typical", "correct horse battery staple"},
		{"unicode", "pässwörd-ünïcødé-🔒"},
		{"four runes, eight bytes", "äöüß"},
		{"spaces and symbols", "  a b $ c , = \\ \" ' "},
		{"maximum length", strings.Repeat("x", maxPasswordLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := HashPassword(tt.password, testParams)
			if err != nil {
				t.Fatalf("HashPassword: %v", err)
			}
			if !phcRE.MatchString(encoded) {
				t.Fatalf("encoded hash %q is not in PHC form", encoded)
			}
			ok, err := VerifyPassword(tt.password, encoded)
			if err != nil || !ok {
				t.Fatalf("VerifyPassword(right password) = %v, %v; want true, nil", ok, err)
			}
			for _, wrong := range []string{"", tt.password + "x", tt.password[1:], strings.ToUpper(tt.password) + "!"} {
				ok, err := VerifyPassword(wrong, encoded)
				if err != nil || ok {
					t.Errorf("VerifyPassword(wrong password of %d bytes) = %v, %v; want false, nil", len(wrong), ok, err)
				}
			}
		})
	}
}

func TestHashPasswordDefaults(t *testing.T) {
	encoded, err := HashPassword("correct horse battery staple", DefaultPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=65536,t=3,p=2$"; !strings.HasPrefix(encoded, want) {
		t.Fatalf("encoded hash %q does not start with %q", encoded, want)
	}
	if ok, err := VerifyPassword("correct horse battery staple", encoded); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
	if NeedsRehash(encoded, DefaultPasswordParams) {
		t.Error("NeedsRehash of a hash made with the defaults = true")
	}
}

// Hashes written by other argon2id implementations, and by earlier versions
// of this package, must keep verifying: they are in people's databases.
func TestVerifyPasswordKnownHashes(t *testing.T) {
	tests := []struct {
		name, password, encoded string
	}{
		{
			// From the argon2-cffi (libargon2) documentation.
			name:     "argon2-cffi",
			password: "correct horse battery staple",
			encoded:  "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg",
		},
		{
			name:     "this package",
			password: "correct horse battery staple",
			encoded:  "$argon2id$v=19$m=1024,t=1,p=1$YMU5ackHRH6QIWDhHxOQ/g$QO9DM9c0U4S9WRu0j6ja+uqOHRyQVSxPK1Mpg3RccHY",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, err := VerifyPassword(tt.password, tt.encoded); !ok || err != nil {
				t.Fatalf("VerifyPassword = %v, %v; want true, nil", ok, err)
			}
			if ok, err := VerifyPassword("Tr0ub4dor&3", tt.encoded); ok || err != nil {
				t.Fatalf("VerifyPassword(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashPasswordSaltsDiffer(t *testing.T) {
	a, err := HashPassword("same password", testParams)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same password", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are equal; the salt is not random")
	}
}

func TestHashPasswordPolicy(t *testing.T) {
	tests := []struct {
		name, password, reason string
	}{
		{"empty", "", "shorter than 8 bytes"},
		{"seven bytes", "1234567", "shorter than 8 bytes"},
		{"three runes, six bytes", "äöü", "shorter than 8 bytes"},
		{"one over the maximum", strings.Repeat("x", maxPasswordLen+1), "longer than 1024 bytes"},
		{"far over the maximum", strings.Repeat("x", 1<<20), "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := HashPassword(tt.password, testParams)
			if !errors.Is(err, ErrWeakPassword) {
				t.Fatalf("HashPassword = %q, %v; want ErrWeakPassword", encoded, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not give the reason %q", err, tt.reason)
			}
			if encoded != "" {
				t.Errorf("HashPassword returned %q with an error", encoded)
			}
		})
	}
}

func TestHashPasswordBadParams(t *testing.T) {
	tests := []struct {
		name string
		p    PasswordParams
	}{
		{"zero", PasswordParams{}},
		{"no threads", PasswordParams{Memory: 1024, Time: 1, Threads: 0}},
		{"no time", PasswordParams{Memory: 1024, Time: 0, Threads: 1}},
		{"time over limit", PasswordParams{Memory: 1024, Time: maxTime + 1, Threads: 1}},
		{"memory below 8 KiB per thread", PasswordParams{Memory: 15, Time: 1, Threads: 2}},
		{"memory over 1 GiB", PasswordParams{Memory: maxMemoryKiB + 1, Time: 1, Threads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := HashPassword("long enough password", tt.p)
			if err == nil {
				t.Fatalf("HashPassword = %q, nil; want an error", encoded)
			}
			if errors.Is(err, ErrWeakPassword) {
				t.Errorf("error %v blames the password for bad parameters", err)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	const salt = "YMU5ackHRH6QIWDhHxOQ/g"
	const key = "QO9DM9c0U4S9WRu0j6ja+uqOHRyQVSxPK1Mpg3RccHY"
	good := "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key
	if ok, err := VerifyPassword("correct horse battery staple", good); !ok || err != nil {
		t.Fatalf("base case does not verify: %v, %v", ok, err)
	}
	tests := []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"plain text", "correct horse battery staple"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=1024,t=1,p=1$" + salt + "$" + key},
		{"upper-case algorithm", "$ARGON2ID$v=19$m=1024,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=1024,t=1,p=1$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key},
		{"trailing dollar", good + "$"},
		{"extra field", "$argon2id$v=19$m=1024,t=1,p=1$x$" + salt + "$" + key},
		{"params out of order", "$argon2id$v=19$t=1,m=1024,p=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=1024,t=1,p=1,keyid=a$" + salt + "$" + key},
		{"missing param", "$argon2id$v=19$m=1024,t=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=01024,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+1024,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=1024,t=-1,p=1$" + salt + "$" + key},
		{"empty number", "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + key},
		{"space in params", "$argon2id$v=19$m=1024, t=1,p=1$" + salt + "$" + key},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"memory below minimum", "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key},
		{"time over 100", "$argon2id$v=19$m=1024,t=101,p=1$" + salt + "$" + key},
		{"time zero", "$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + key},
		{"threads zero", "$argon2id$v=19$m=1024,t=1,p=0$" + salt + "$" + key},
		{"threads over uint8", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"salt padded", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "==$" + key},
		{"salt with newline", "$argon2id$v=19$m=1024,t=1,p=1$" + salt[:10] + "\n" + salt[10:] + "$" + key},
		{"salt url alphabet", "$argon2id$v=19$m=1024,t=1,p=1$" + strings.ReplaceAll(salt, "/", "_") + "$" + key},
		{"salt too short", "$argon2id$v=19$m=1024,t=1,p=1$" + salt[:20] + "$" + key},
		{"salt too long", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "AAAA$" + key},
		{"salt non-canonical trailing bits", "$argon2id$v=19$m=1024,t=1,p=1$" + salt[:21] + "h$" + key},
		{"empty salt", "$argon2id$v=19$m=1024,t=1,p=1$$" + key},
		{"key too short", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key[:32]},
		{"key too long", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "AAAA"},
		{"key not base64", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + strings.Repeat("!", 43)},
		{"oversized", good + strings.Repeat("A", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword("correct horse battery staple", tt.encoded)
			if !errors.Is(err, ErrMalformedHash) || ok {
				t.Fatalf("VerifyPassword = %v, %v; want false, ErrMalformedHash", ok, err)
			}
			if !NeedsRehash(tt.encoded, testParams) {
				t.Error("NeedsRehash of a malformed hash = false")
			}
		})
	}
}

func TestVerifyPasswordOverlong(t *testing.T) {
	encoded, err := HashPassword("correct horse battery staple", testParams)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := VerifyPassword(strings.Repeat("x", maxPasswordLen+1), encoded)
	if ok || err != nil {
		t.Fatalf("VerifyPassword(overlong) = %v, %v; want false, nil", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	encoded, err := HashPassword("correct horse battery staple", testParams)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    PasswordParams
		want bool
	}{
		{"same parameters", testParams, false},
		{"more memory", PasswordParams{Memory: 2048, Time: 1, Threads: 1}, true},
		{"less memory", PasswordParams{Memory: 512, Time: 1, Threads: 1}, true},
		{"more time", PasswordParams{Memory: 1024, Time: 2, Threads: 1}, true},
		{"more threads", PasswordParams{Memory: 1024, Time: 1, Threads: 2}, true},
		{"defaults", DefaultPasswordParams, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(encoded, tt.p); got != tt.want {
				t.Fatalf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		p := GeneratePassword()
		if len(p) != 20 {
			t.Fatalf("GeneratePassword() has %d characters, want 20", len(p))
		}
		if !inAlphabet(p, generatedPasswordAlphabet) {
			t.Fatalf("GeneratePassword() = %q has characters outside the URL-safe alphabet", p)
		}
		if err := checkPasswordPolicy(p); err != nil {
			t.Fatalf("generated password fails the policy: %v", err)
		}
		if seen[p] {
			t.Fatalf("GeneratePassword() repeated %q", p)
		}
		seen[p] = true
	}
}
