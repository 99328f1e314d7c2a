package imagebuild

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/docker/docker/api/types/image"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// TestCurrent builds a scratch image from a static binary and checks what
// Current and Ensure say of it.
func TestCurrent(t *testing.T) {
	cli := dockertest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "testapp")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../dockertest/testapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testapp: %v\n%s", err, out)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("another binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	tag := "airlock/imagebuild-test:" + hex.EncodeToString(suffix)
	ctxFS := fstest.MapFS{"ctx/Dockerfile": {Data: []byte("FROM scratch\nCOPY airlock /airlock\n")}}
	built, err := Ensure(ctx, cli, tag, ctxFS, "ctx", bin)
	if err != nil || !built {
		t.Fatalf("Ensure of a missing image: built %v, %v", built, err)
	}
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true}) })

	for _, tc := range []struct {
		name, tag, bin  string
		exists, current bool
		wantErr         bool
	}{
		{name: "ok/current", tag: tag, bin: bin, exists: true, current: true},
		{name: "ok/other-binary", tag: tag, bin: other, exists: true},
		{name: "ok/missing-image", tag: "airlock/imagebuild-test:no-such-tag", bin: bin},
		{name: "fail/missing-binary", tag: tag, bin: filepath.Join(dir, "nope"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exists, current, err := Current(ctx, cli, tc.tag, tc.bin)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Current: %v, want error %v", err, tc.wantErr)
			}
			if exists != tc.exists || current != tc.current {
				t.Fatalf("Current: exists %v current %v, want %v %v", exists, current, tc.exists, tc.current)
			}
		})
	}
	if built, err := Ensure(ctx, cli, tag, ctxFS, "ctx", bin); err != nil || built {
		t.Fatalf("Ensure of a current image: built %v, %v", built, err)
	}
}
