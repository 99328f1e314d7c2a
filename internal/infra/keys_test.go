package infra

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads the database copy as an attacker would

	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/store"
)

var quietLog = slog.New(slog.DiscardHandler)

// runServer starts Run on dir and returns the running server and a stop
// function that waits for Run to return.
func runServer(t *testing.T, dir string) (*Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", AgentURL: "https://host.docker.internal:1", AdminPassword: "admin-password-1",
			PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, Logger: quietLog,
			Ready: func(_ string, s *Server) { ready <- s }})
	}()
	select {
	case s := <-ready:
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		t.Cleanup(stop)
		return s, stop
	case err := <-done:
		cancel()
		t.Fatalf("Run did not start: %v", err)
		return nil, nil
	}
}

// dbValues returns every non-NULL value of every table of the SQLite
// database at path, as bytes: all an attacker holding a copy has.
func dbValues(t *testing.T, path string) [][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var out [][]byte
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tb + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out = append(out, v)
				case string:
					out = append(out, []byte(v))
				}
			}
		}
		rows.Close()
	}
	return out
}

// keyCandidates are the keys an attacker could make of value: the bytes
// themselves and their base64 and hex decodings.
func keyCandidates(v []byte) [][]byte {
	c := [][]byte{v}
	s := strings.TrimSpace(string(v))
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(s); err == nil {
			c = append(c, b)
		}
	}
	return c
}

// forges reports whether some key made of values signs a token that the
// server's signer accepts.
func forges(t *testing.T, server *auth.Signer, values [][]byte) bool {
	t.Helper()
	for _, v := range values {
		for _, k := range keyCandidates(v) {
			s, err := auth.NewSigner(k, nil)
			if err != nil {
				continue // shorter than a key
			}
			tok, err := s.Sign(auth.Claims{Subject: "admin", Role: "viewer", Session: "s", Audience: "airlock-signal", Expires: time.Now().Add(time.Minute).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := server.Verify(tok, "airlock-signal"); err == nil {
				return true
			}
		}
	}
	return false
}

// privateDir is a new 0700 directory, as the server wants its data
// directory.
func privateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyDatabase copies a SQLite database as someone taking it would: the
// file and its write-ahead log, if one is left (the last connection's
// checkpoint may not have run yet), since the log holds the latest
// writes, the removal of a secret included.
func copyDatabase(t *testing.T, from, to string) {
	t.Helper()
	copyFile(t, from, to)
	if _, err := os.Stat(from + "-wal"); err == nil {
		copyFile(t, from+"-wal", to+"-wal")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDatabaseCopyGivesNoSigningKey: an existing deployment whose keys
// are in the settings table starts, the keys move to 0600 files (tokens
// signed before still verify), and a copy of the database, the server's
// key files gone, yields no key that signs a token the server accepts.
func TestDatabaseCopyGivesNoSigningKey(t *testing.T) {
	dir := privateDir(t)
	// The state an earlier version left: both secrets in the database.
	legacyKey := bytes.Repeat([]byte("L"), 32)
	legacyTURN := bytes.Repeat([]byte("T"), 32)
	st, err := store.Open(context.Background(), filepath.Join(dir, "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string][]byte{legacySigningKeySetting: legacyKey, legacyTURNSecretSetting: legacyTURN} {
		if err := st.SetSetting(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	legacy, _ := auth.NewSigner(legacyKey, nil)
	before, err := legacy.Sign(auth.Claims{Subject: "agent", Session: "s", Role: "agent", Audience: "airlock-agent", Expires: time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}

	srv, stop := runServer(t, dir)
	if _, err := srv.Signer.Verify(before, "airlock-agent"); err != nil {
		t.Fatalf("a token signed with the database's key before the upgrade: %v", err)
	}
	for _, f := range []string{SigningKeysFile, TURNSecretFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}
	if turn, err := readTURNSecret(dir); err != nil || !bytes.Equal(turn, legacyTURN) {
		t.Errorf("turn secret file = %x, %v; want the database's secret", turn, err)
	}
	server := srv.Signer
	stop()

	stolen := filepath.Join(t.TempDir(), "stolen.db")
	copyDatabase(t, filepath.Join(dir, "airlock.db"), stolen)
	values := dbValues(t, stolen)
	if len(values) == 0 {
		t.Fatal("read nothing from the database copy")
	}
	if forges(t, server, values) {
		t.Fatal("a key taken from the database copy signs tokens the server accepts")
	}
	for _, v := range values {
		if bytes.Contains(v, legacyTURN) || bytes.Contains(v, []byte(base64.StdEncoding.EncodeToString(legacyTURN))) {
			t.Fatal("the TURN secret is still in the database")
		}
	}
	// The search would have found a key had it been there.
	keyFile, err := os.ReadFile(filepath.Join(dir, SigningKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	kf, err := parseKeyFile("", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !forges(t, server, [][]byte{[]byte(kf.Keys[0].Key)}) {
		t.Fatal("the search does not find the key in the key file: it proves nothing")
	}
}

// TestRunRefusesLooseKeyFiles: the server does not start when a key
// file is open to others, and says what to chmod.
func TestRunRefusesLooseKeyFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(dir string) error
		wantErr string
	}{
		{"signing-keys-0644", func(dir string) error { return os.Chmod(filepath.Join(dir, SigningKeysFile), 0o644) }, "signing-keys.json has mode 0644, open to others; the server refuses it until it is private: chmod 600 /"},
		{"turn-secret-0640", func(dir string) error { return os.Chmod(filepath.Join(dir, TURNSecretFile), 0o640) }, "turn-secret has mode 0640"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			_, stop := runServer(t, dir) // makes the files
			stop()
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			err := Run(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", AgentURL: "https://host.docker.internal:1", Logger: quietLog})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Run = %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestRunMakesDataDirPrivate: a data directory made with mkdir (0755)
// is made 0700 at start.
func TestRunMakesDataDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	_, stop := runServer(t, dir)
	stop()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory has mode %04o after start, want 0700", fi.Mode().Perm())
	}
}

// TestRotateKeys: after a rotation the new key signs, a token of the old
// key verifies until SigningKeyOverlap has passed and not after, and the
// next rotation after that drops the old key from the file.
func TestRotateKeys(t *testing.T) {
	dir := privateDir(t)
	if _, err := RotateKeys(dir, false, time.Now()); err == nil || !strings.Contains(err.Error(), "start the server once") {
		t.Fatalf("RotateKeys without a key file = %v", err)
	}
	if err := moveSecretsOutOfStore(context.Background(), dir, openStore(t), quietLog); err != nil {
		t.Fatal(err)
	}
	k, err := newKeyReloader(dir, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	oldID := k.signer.SigningKeyID()
	t0 := time.Now()
	claims := auth.Claims{Subject: "u", Session: "s", Role: "viewer", Audience: "airlock-signal", Expires: t0.Add(2 * time.Hour).Unix()}
	oldTok, err := k.signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	turnBefore, err := readTURNSecret(dir)
	if err != nil {
		t.Fatal(err)
	}

	r, err := RotateKeys(dir, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Retired) != 1 || r.Retired[0] != oldID || r.NewKeyID == oldID || !r.TURN {
		t.Fatalf("rotation %+v, old key %s", r, oldID)
	}
	if turnAfter, _ := readTURNSecret(dir); bytes.Equal(turnAfter, turnBefore) {
		t.Fatal("--turn did not replace the TURN secret")
	}
	if err := k.reload(); err != nil {
		t.Fatal(err)
	}
	if got := k.signer.SigningKeyID(); got != r.NewKeyID {
		t.Fatalf("after reload the server signs with %s, want %s", got, r.NewKeyID)
	}
	_, keys, err := k.read()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"ok/just-after-rotation", t0.Add(time.Second), true},
		{"ok/within-lifetime", t0.Add(SigningKeyOverlap - 2*time.Second), true},
		{"fail/after-lifetime", t0.Add(SigningKeyOverlap + time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			s, err := auth.NewSignerKeys(keys, func() time.Time { return at })
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Verify(oldTok, "airlock-signal")
			if tc.ok && err != nil {
				t.Fatalf("old key's token refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, auth.ErrTokenInvalid) {
				t.Fatalf("old key's token after its lifetime: %v, want refused", err)
			}
		})
	}

	r2, err := RotateKeys(dir, false, t0.Add(SigningKeyOverlap+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Dropped) != 1 || r2.Dropped[0] != oldID || len(r2.Retired) != 1 || r2.Retired[0] != r.NewKeyID {
		t.Fatalf("second rotation %+v", r2)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, SigningKeysFile)); bytes.Contains(b, []byte(oldID)) {
		t.Fatal("the expired key is still in the file")
	}
	if fi, _ := os.Stat(filepath.Join(dir, SigningKeysFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file has mode %04o", fi.Mode().Perm())
	}
}

// TestKeyReloaderKeepsKeysOnBadFile: a broken file during a run is
// reported and the keys in use stay.
func TestKeyReloaderKeepsKeysOnBadFile(t *testing.T) {
	dir := privateDir(t)
	if err := moveSecretsOutOfStore(context.Background(), dir, openStore(t), quietLog); err != nil {
		t.Fatal(err)
	}
	k, err := newKeyReloader(dir, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	id := k.signer.SigningKeyID()
	if err := writeSecretFile(filepath.Join(dir, SigningKeysFile), []byte(`{"keys":[]}`)); err != nil {
		t.Fatal(err)
	}
	if err := k.reload(); err == nil || !strings.Contains(err.Error(), "holds no key") {
		t.Fatalf("reload of an empty key file = %v", err)
	}
	if k.signer.SigningKeyID() != id {
		t.Fatal("a bad file changed the keys in use")
	}
}
