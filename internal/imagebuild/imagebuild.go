// Package imagebuild builds Airlock's workspace images on a Docker daemon
// from the contexts in package images, adding the running airlock binary,
// so a host with no registry can still run every workspace.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// LabelBinary names the SHA-256 of the airlock binary an image was built
// with, so an image left by an older binary is rebuilt.
const LabelBinary = "airlock.binary"

// Ensure builds tag from the context directory dir of ctxFS, with the
// airlock binary at bin added as "airlock", unless the image exists and
// was built from this very binary. It reports whether it built.
func Ensure(ctx context.Context, cli *client.Client, tag string, ctxFS fs.FS, dir, bin string) (bool, error) {
	_, current, err := Current(ctx, cli, tag, bin)
	if err != nil || current {
		return false, err
	}
	return true, Build(ctx, cli, tag, ctxFS, dir, bin)
}

// Current reports whether the image tag exists, and whether it was built
// from the airlock binary at bin.
func Current(ctx context.Context, cli *client.Client, tag, bin string) (exists, current bool, err error) {
	sum, err := fileSum(bin)
	if err != nil {
		return false, false, err
	}
	img, err := cli.ImageInspect(ctx, tag)
	switch {
	case errdefs.IsNotFound(err):
		return false, false, nil
	case err != nil:
		return false, false, fmt.Errorf("inspect image %s: %w", tag, err)
	}
	return true, img.Config != nil && img.Config.Labels[LabelBinary] == sum, nil
}

func fileSum(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// Build builds tag (see Ensure) whether or not it exists.
func Build(ctx context.Context, cli *client.Client, tag string, ctxFS fs.FS, dir, bin string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := fs.WalkDir(ctxFS, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(ctxFS, p)
		if err != nil {
			return err
		}
		rel := p[len(dir)+1:]
		return addFile(tw, rel, 0o644, data)
	})
	if err != nil {
		return fmt.Errorf("image %s context: %w", tag, err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("image %s: read airlock binary: %w", tag, err)
	}
	if err := checkStatic(exe); err != nil {
		return fmt.Errorf("image %s: %s: %w", tag, bin, err)
	}
	if err := addFile(tw, "airlock", 0o755, exe); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(exe)
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true,
		Labels: map[string]string{LabelBinary: hex.EncodeToString(sum[:])}})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	// The daemon streams JSON messages; an error arrives as one of them.
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("build image %s: read progress: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build image %s: %s", tag, msg.Error)
		}
	}
}

func addFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: path.Clean(name), Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// checkStatic refuses a dynamically linked binary: a FROM scratch image
// has no loader, and the container would die with a puzzling "no such
// file or directory".
func checkStatic(exe []byte) error {
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("the binary is dynamically linked; build it with CGO_ENABLED=0 (make build does)")
		}
	}
	return nil
}
