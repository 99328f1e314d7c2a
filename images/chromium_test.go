package images_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
	"github.com/airlock-rbi/airlock/internal/provisiontest"
)

// TestChromiumSandboxThroughNode builds the Chromium workspace (and its
// Debian base, locally, when missing) and runs Chromium through a policed
// provision node: non-root, every capability dropped, no-new-privileges,
// with its own sandbox on under the workspace's seccomp profile, and
// refusing to run without a sandbox under Docker's default profile.
func TestChromiumSandboxThroughNode(t *testing.T) {
	socket := dockertest.Client(t)
	ctx := context.Background()
	if out, err := exec.Command("bash", "../scripts/build-base-image.sh").CombinedOutput(); err != nil {
		t.Fatalf("base image: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "airlock")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/airlock")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build airlock: %v\n%s", err, out)
	}
	if _, err := imagebuild.Ensure(ctx, socket, dockertest.ChromiumImage(), images.FS, "chromium", bin); err != nil {
		t.Fatal(err)
	}
	profileFile, err := filepath.Abs(filepath.Join("chromium", "seccomp.json"))
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.ReadFile(profileFile)
	if err != nil {
		t.Fatal(err)
	}
	node := provisiontest.Start(t, provisiontest.Options{Images: []string{dockertest.ChromiumImage()}, SeccompProfiles: []string{profileFile}})
	tlsConfig, err := node.InfraTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := client.NewClientWithOpts(client.WithHost(node.URL),
		client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	for _, tc := range []struct {
		name        string
		securityOpt []string
		want        string
	}{
		{"ok/sandboxed-with-profile", []string{"seccomp=" + string(profile)}, "<html><head></head><body></body></html>"},
		{"fail/default-profile-has-no-sandbox", nil, "No usable sandbox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cli.ContainerCreate(ctx, &container.Config{
				// The node makes the root read-only: Chromium's profile goes
				// to a tmpfs, as in a session.
				Image: dockertest.ChromiumImage(), User: "1000:1000", Entrypoint: []string{"chromium"}, Env: []string{"HOME=/tmp"},
				Cmd: []string{"--headless=new", "--disable-gpu", "--dump-dom", "about:blank"},
			}, &container.HostConfig{NetworkMode: "none", Tmpfs: map[string]string{"/tmp": "rw,nosuid,nodev,size=256m"}, ShmSize: 256 << 20, SecurityOpt: tc.securityOpt, Resources: container.Resources{Memory: 1 << 30}}, nil, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			defer node.Socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
			got, err := node.Socket.ContainerInspect(ctx, c.ID)
			if err != nil || got.HostConfig.CapDrop[0] != "ALL" || got.HostConfig.Privileged {
				t.Fatalf("node floor missing: %v %+v", err, got.HostConfig)
			}
			if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			waitC, errC := cli.ContainerWait(wctx, c.ID, container.WaitConditionNotRunning)
			select {
			case <-waitC:
			case err := <-errC:
				t.Fatalf("wait: %v", err)
			}
			logs, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
			if err != nil {
				t.Fatal(err)
			}
			defer logs.Close()
			var out bytes.Buffer
			_, _ = out.ReadFrom(logs)
			if !bytes.Contains(out.Bytes(), []byte(tc.want)) {
				t.Fatalf("chromium output does not contain %q:\n%s", tc.want, out.String())
			}
		})
	}
}
