// Package dockertest gives tests and benchmarks a real Docker daemon and a
// small image to run on it, built locally from source (FROM scratch with a
// static binary) because no registry can be reached.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// TestImage is the image the tests and benchmarks run.
const TestImage = "airlock/testapp:latest"

// Socket is the daemon's socket: $AIRLOCK_DOCKER_SOCKET or the default.
func Socket() string {
	if s := os.Getenv("AIRLOCK_DOCKER_SOCKET"); s != "" {
		return s
	}
	return "/var/run/docker.sock"
}

// Connect returns a client of the local daemon, or an error that says how
// to get one.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+Socket()), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("no Docker daemon answers on %s (run `make test`, which starts one, or scripts/ensure-docker.sh): %w", Socket(), err)
	}
	return cli, nil
}

// Client is Connect for tests: it fails the test when no daemon answers.
// Tests that need Docker do not skip: `make test` provides a daemon.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var buildOnce struct {
	sync.Mutex
	done bool
}

// Image builds TestImage once per process and returns its reference.
func Image(t testing.TB, cli *client.Client) string {
	t.Helper()
	buildOnce.Lock()
	defer buildOnce.Unlock()
	if !buildOnce.done {
		if err := BuildTestImage(context.Background(), cli); err != nil {
			t.Fatal(err)
		}
		buildOnce.done = true
	}
	return TestImage
}

// BuildTestImage compiles testapp statically and builds TestImage from it.
func BuildTestImage(ctx context.Context, cli *client.Client) error {
	dir, err := os.MkdirTemp("", "airlock-testapp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testapp")
	_, self, _, _ := runtime.Caller(0)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testapp")
	cmd.Dir = filepath.Dir(self)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build testapp: %w: %s", err, out)
	}
	return BuildScratchImage(ctx, cli, TestImage, bin, []string{"/testapp"})
}

// BuildScratchImage builds tag FROM scratch holding the single static
// binary bin at /<base name>, with entrypoint.
func BuildScratchImage(ctx context.Context, cli *client.Client, tag, bin string, entrypoint []string) error {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	name := filepath.Base(bin)
	ep := `["` + strings.Join(entrypoint, `","`) + `"]`
	dockerfile := "FROM scratch\nCOPY " + name + " /" + name + "\nUSER 65534:65534\nENTRYPOINT " + ep + "\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {name, 0o755, exe}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	if bytes.Contains(out, []byte(`"error"`)) {
		return fmt.Errorf("build image %s: %s", tag, out)
	}
	return nil
}
