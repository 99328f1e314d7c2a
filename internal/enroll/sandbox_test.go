package enroll

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// probeImage is the image the sandbox probe tests run: it has dmesg, and
// scripts/build-base-image.sh makes it on any Debian host without a
// registry (the test image is FROM scratch and has no dmesg).
const probeImage = "debian:bookworm-slim"

// sandboxDocker gives a sandbox test the real dockerd with runsc and the
// probe image, or skips it when sandboxed tests are not asked for: they
// need gVisor set up (make sandboxed), which `make test` does only with
// AIRLOCK_SANDBOXED=1 (as CI runs it).
func sandboxDocker(t *testing.T) string {
	t.Helper()
	if os.Getenv("AIRLOCK_TEST_SANDBOXED") != "1" {
		t.Skip("sandboxed tests need gVisor's runsc in dockerd: run `make sandboxed` and set AIRLOCK_TEST_SANDBOXED=1 (AIRLOCK_SANDBOXED=1 make test does both)")
	}
	cli := dockertest.Client(t)
	if _, err := cli.ImageInspect(context.Background(), probeImage); err != nil {
		if out, err := exec.Command("bash", "../../scripts/build-base-image.sh").CombinedOutput(); err != nil {
			t.Fatalf("build %s for the probe: %v: %s", probeImage, err, out)
		}
	}
	socket := dockertest.Socket()
	rt, err := DockerRuntimes(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	if !rt[SandboxRuntime] {
		t.Fatalf("AIRLOCK_TEST_SANDBOXED=1 but dockerd has no %s runtime (it has %v): run `make sandboxed`", SandboxRuntime, rt)
	}
	return socket
}

// TestProveSandbox runs the probe under the real runsc: it must pass. Then
// under runc and under a runtime dockerd does not have, where it must fail
// saying why, so a node whose "runsc" is not gVisor never advertises
// sandboxed.
func TestProveSandbox(t *testing.T) {
	socket := sandboxDocker(t)
	ctx := context.Background()
	if err := ProveSandbox(ctx, socket, probeImage); err != nil {
		t.Fatalf("ProveSandbox under runsc: %v", err)
	}
	for _, tc := range []struct {
		name, runtime, image, want string
	}{
		{"fail/runc", "runc", probeImage, `runtime "runc" did not run inside gVisor`},
		{"fail/missing-runtime", "airlock-no-such-runtime", probeImage, `create a container under runtime "airlock-no-such-runtime"`},
		{"fail/missing-image", SandboxRuntime, "airlock/no-such-image:latest", "image airlock/no-such-image:latest"},
		{"fail/no-dmesg", SandboxRuntime, dockertest.Image(t, dockertest.Client(t)), "start airlock-sandbox-probe-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := proveRuntime(ctx, socket, tc.image, tc.runtime)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want …%s…", err, tc.want)
			}
			t.Log(err)
		})
	}
}
