package infra

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// The server's secrets live in files of the data directory, never in the
// database, so that a copy of the database alone holds no usable
// credential (everything else there is a hash).
const (
	// SigningKeysFile holds the token signing keys: the current one and
	// those retired by a rotation, kept while tokens they signed may live.
	SigningKeysFile = "signing-keys.json"
	// TURNSecretFile holds the secret TURN credentials are derived from.
	TURNSecretFile = "turn-secret"
)

// Settings rows in which earlier versions kept these secrets; moved to the
// files at the first start and deleted.
const (
	legacySigningKeySetting = "signing_key"
	legacyTURNSecretSetting = "turn_secret"
)

// keyReloadInterval is how often a running server rereads the signing key
// file, so a rotation reaches every process sharing the data directory.
const keyReloadInterval = 10 * time.Second

// SigningKeyOverlap is how long a retired signing key still verifies: the
// longest-lived token the api signs, plus the time a running server may
// take to notice the rotation and stop signing with the old key.
const SigningKeyOverlap = api.MaxTokenTTL + keyReloadInterval

// keyFile is the JSON form of SigningKeysFile.
type keyFile struct {
	Keys []keyEntry `json:"keys"`
}

type keyEntry struct {
	// ID is auth.KeyID(Key), for operators reading the file and logs;
	// checked on load.
	ID        string    `json:"id"`
	Key       string    `json:"key"` // standard base64
	CreatedAt time.Time `json:"created_at"`
	// NotAfter is set when the key is retired: from then on tokens it
	// signed are refused.
	NotAfter *time.Time `json:"not_after,omitempty"`
}

// privateDataDir makes the data directory private to its owner (0700):
// it holds the CA key and the key files. A directory made by hand (mkdir
// gives 0755) is tightened, and the log says so.
func privateDataDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s has mode %04o and could not be made 0700: %w", dir, perm, err)
		}
		log.Info("data directory made private", "dir", dir, "was", fmt.Sprintf("%04o", perm))
	}
	return nil
}

// readSecretFile reads a key file, refusing one that is not a regular
// file or that anyone but its owner may read or write.
func readSecretFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o, open to others; the server refuses it until it is private: chmod 600 %s (and consider the key leaked: rotate it)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	return b, nil
}

// writeSecretFile replaces path atomically (temporary file, fsync,
// rename, fsync of the directory) with a 0600 file holding data: a
// reader sees the old or the new keys, never half of either.
func writeSecretFile(path string, data []byte) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600) // CreateTemp makes 0600 already; say so, whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename's durability; not all filesystems support it
		d.Close()
	}
	return nil
}

// parseKeyFile decodes and checks a signing key file.
func parseKeyFile(path string, b []byte) (keyFile, error) {
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return keyFile{}, fmt.Errorf("signing key file %s: %w", path, err)
	}
	if len(kf.Keys) == 0 {
		return keyFile{}, fmt.Errorf("signing key file %s holds no key", path)
	}
	for i, k := range kf.Keys {
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil {
			return keyFile{}, fmt.Errorf("signing key file %s: key %d is not base64", path, i)
		}
		if id := auth.KeyID(raw); id != k.ID {
			return keyFile{}, fmt.Errorf("signing key file %s: key %d has id %q but its key's ID is %s (edited by hand?)", path, i, k.ID, id)
		}
	}
	return kf, nil
}

func (kf keyFile) signingKeys() ([]auth.SigningKey, error) {
	out := make([]auth.SigningKey, 0, len(kf.Keys))
	for _, k := range kf.Keys {
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil {
			return nil, err
		}
		sk := auth.SigningKey{Key: raw}
		if k.NotAfter != nil {
			sk.NotAfter = *k.NotAfter
		}
		out = append(out, sk)
	}
	return out, nil
}

func newKeyEntry(key []byte, now time.Time) keyEntry {
	return keyEntry{ID: auth.KeyID(key), Key: base64.StdEncoding.EncodeToString(key), CreatedAt: now.UTC()}
}

func writeKeyFile(path string, kf keyFile) error {
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode signing keys: %w", err)
	}
	return writeSecretFile(path, append(b, '\n'))
}

// moveSecretsOutOfStore makes sure both key files exist, taking the
// secrets an earlier version kept in the settings table (so tokens and
// TURN credentials already handed out stay good) or making new ones, and
// then deletes them from the database. A file already present wins over
// the database.
func moveSecretsOutOfStore(ctx context.Context, dataDir string, st airlock.Settings, log *slog.Logger) error {
	for _, sec := range []struct {
		setting, file string
		encode        func(key []byte) ([]byte, error)
	}{
		{legacySigningKeySetting, SigningKeysFile, func(key []byte) ([]byte, error) {
			b, err := json.MarshalIndent(keyFile{Keys: []keyEntry{newKeyEntry(key, time.Now())}}, "", "  ")
			return append(b, '\n'), err
		}},
		{legacyTURNSecretSetting, TURNSecretFile, func(key []byte) ([]byte, error) {
			return []byte(base64.StdEncoding.EncodeToString(key) + "\n"), nil
		}},
	} {
		path := filepath.Join(dataDir, sec.file)
		_, err := readSecretFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if errors.Is(err, fs.ErrNotExist) {
			key, err := st.Setting(ctx, sec.setting)
			from := "database"
			if airlock.ErrorCode(err) == airlock.ENOTFOUND || (err == nil && len(key) < 32) {
				key, from = randomKey(), "new"
			} else if err != nil {
				return fmt.Errorf("read %s from the database: %w", sec.setting, err)
			}
			b, err := sec.encode(key)
			if err != nil {
				return err
			}
			if err := writeSecretFile(path, b); err != nil {
				return err
			}
			log.Info("wrote key file", "file", path, "from", from)
		}
		// Also when the file was there already: a crash between writing
		// it and this delete must not leave the secret in the database.
		if err := st.DeleteSetting(ctx, sec.setting); err != nil {
			return fmt.Errorf("delete %s from the database: %w", sec.setting, err)
		}
	}
	return nil
}

// readTURNSecret reads the TURN secret file of dataDir.
func readTURNSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, TURNSecretFile)
	b, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("turn secret: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("turn secret file %s must hold at least 32 bytes in base64", path)
	}
	return key, nil
}

// Rotation is what RotateKeys did.
type Rotation struct {
	NewKeyID string
	// Retired are the IDs of keys retired now, accepted until RetiredUntil.
	Retired      []string
	RetiredUntil time.Time
	// Dropped are the IDs of keys retired earlier whose time is over.
	Dropped []string
	// TURN reports a new TURN secret (taking effect at the next start).
	TURN bool
}

// RotateKeys gives the data directory a new signing key. The keys current
// until now are retired: they verify for SigningKeyOverlap more, so
// tokens they signed live out their lifetime; keys retired earlier whose
// time is over are dropped. A running server picks the new key up within
// keyReloadInterval. With turn, the TURN secret is replaced too; the TURN
// server reads it at start, so that takes effect when the server restarts
// (and TURN credentials handed out before stop working then).
func RotateKeys(dataDir string, turn bool, now time.Time) (Rotation, error) {
	path := filepath.Join(dataDir, SigningKeysFile)
	b, err := readSecretFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Rotation{}, fmt.Errorf("no %s in %s: start the server once (it makes the key files, moving any keys out of the database), then rotate", SigningKeysFile, dataDir)
	}
	if err != nil {
		return Rotation{}, err
	}
	kf, err := parseKeyFile(path, b)
	if err != nil {
		return Rotation{}, err
	}
	now = now.UTC().Truncate(time.Second)
	r := Rotation{RetiredUntil: now.Add(SigningKeyOverlap)}
	kept := kf.Keys[:0]
	for _, k := range kf.Keys {
		switch {
		case k.NotAfter == nil:
			until := r.RetiredUntil
			k.NotAfter = &until
			r.Retired = append(r.Retired, k.ID)
		case !now.Before(*k.NotAfter):
			r.Dropped = append(r.Dropped, k.ID)
			continue
		}
		kept = append(kept, k)
	}
	key := randomKey()
	kf.Keys = append(kept, newKeyEntry(key, now))
	r.NewKeyID = auth.KeyID(key)
	if err := writeKeyFile(path, kf); err != nil {
		return Rotation{}, err
	}
	if turn {
		if err := writeSecretFile(filepath.Join(dataDir, TURNSecretFile), []byte(base64.StdEncoding.EncodeToString(randomKey())+"\n")); err != nil {
			return r, err
		}
		r.TURN = true
	}
	return r, nil
}

// keyReloader rereads the signing key file so that a rotation done while
// the server runs takes effect without a restart.
type keyReloader struct {
	dir    string
	signer *auth.Signer
	log    *slog.Logger
	last   []byte
}

// newKeyReloader reads the signing key file of dir and returns a signer
// of its keys with the reloader that keeps them current.
func newKeyReloader(dir string, log *slog.Logger) (*keyReloader, error) {
	k := &keyReloader{dir: dir, log: log}
	b, keys, err := k.read()
	if err != nil {
		return nil, err
	}
	if k.signer, err = auth.NewSignerKeys(keys, nil); err != nil {
		return nil, fmt.Errorf("signing key file %s: %w", filepath.Join(dir, SigningKeysFile), err)
	}
	k.last = b
	return k, nil
}

func (k *keyReloader) read() ([]byte, []auth.SigningKey, error) {
	path := filepath.Join(k.dir, SigningKeysFile)
	b, err := readSecretFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	kf, err := parseKeyFile(path, b)
	if err != nil {
		return nil, nil, err
	}
	keys, err := kf.signingKeys()
	if err != nil {
		return nil, nil, err
	}
	return b, keys, nil
}

// reload installs the file's keys if the file changed.
func (k *keyReloader) reload() error {
	b, keys, err := k.read()
	if err != nil || bytes.Equal(b, k.last) {
		return err
	}
	if err := k.signer.SetKeys(keys); err != nil {
		return fmt.Errorf("signing key file %s: %w", filepath.Join(k.dir, SigningKeysFile), err)
	}
	k.last = b
	k.log.Info("signing keys reloaded", "signing_key", k.signer.SigningKeyID(), "keys", len(keys))
	return nil
}

// run reloads until ctx ends. A bad file is logged and the keys in use
// stay: a running server keeps serving.
func (k *keyReloader) run(ctx context.Context) {
	t := time.NewTicker(keyReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.reload(); err != nil {
				k.log.Error("reload signing keys; keeping the keys in use", "err", err)
			}
		}
	}
}
