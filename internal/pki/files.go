package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File names inside a bundle directory, as the docker CLI expects them in
// DOCKER_CERT_PATH.
const (
	bundleCAFile   = "ca.pem"
	bundleCertFile = "cert.pem"
	bundleKeyFile  = "key.pem"
)

// WriteBundle writes b into outDir as ca.pem, cert.pem and key.pem,
// creating outDir with mode 0700 if needed. Each file is replaced
// atomically because renewal rewrites them while servers and clients may be
// reading. cert.pem is written last so that its change marks a complete
// renewal. A bundle with no KeyPEM (from SignCSR) leaves key.pem alone: the
// key stayed with the requester, which typically already wrote it there.
func WriteBundle(outDir string, b *Bundle) error {
	if b == nil || len(b.CertPEM) == 0 || len(b.CACertPEM) == 0 {
		return fmt.Errorf("write bundle %s: bundle is missing certificates", outDir)
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return fmt.Errorf("write bundle %s: %w", outDir, err)
	}
	if err := writeFileAtomic(filepath.Join(outDir, bundleCAFile), b.CACertPEM, 0o644); err != nil {
		return fmt.Errorf("write bundle %s: %w", outDir, err)
	}
	if b.KeyPEM != nil {
		if err := writeFileAtomic(filepath.Join(outDir, bundleKeyFile), b.KeyPEM, 0o600); err != nil {
			return fmt.Errorf("write bundle %s: %w", outDir, err)
		}
	}
	if err := writeFileAtomic(filepath.Join(outDir, bundleCertFile), b.CertPEM, 0o644); err != nil {
		return fmt.Errorf("write bundle %s: %w", outDir, err)
	}
	return nil
}

// writeFileExcl creates path, failing if it exists, so two concurrent
// writers can never both believe they own it.
func writeFileExcl(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := fillAndClose(f, data, perm); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces path with data via a temporary file in the same
// directory and a rename, so readers see either the old or the new
// contents, never a truncated file. The temporary file gets its final mode
// before any data is written, so a key is never briefly world-readable.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = fillAndClose(f, data, perm)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// parseECKeyPEM accepts PKCS#8 (what we write) and SEC 1 ("EC PRIVATE
// KEY", what openssl and older tools write) so a CA key imported by hand
// still loads.
func parseECKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse key: %w", err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want ECDSA", k)
		}
		return ek, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
}

// fillAndClose sets f's mode before writing (OpenFile's mode is filtered by
// the umask, and the modes here are part of the on-disk contract, so a key
// is never briefly readable by others), writes data, syncs and closes.
func fillAndClose(f *os.File, data []byte, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
