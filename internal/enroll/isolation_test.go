package enroll

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

func TestDeliverable(t *testing.T) {
	withRunsc := map[string]bool{"runc": true, "io.containerd.runc.v2": true, "runsc": true}
	plain := map[string]bool{"runc": true, "io.containerd.runc.v2": true}
	both := []string{"runc", "runsc"}
	all := []string{"standard", "hardened", "sandboxed"}
	noRules := errors.New("nftables rules missing")
	noProbe := errors.New("dmesg exited 1")
	for _, tc := range []struct {
		name     string
		want     []string
		docker   map[string]bool
		policy   []string
		hardened error
		sandbox  error
		keep     []string
		dropped  []string // "level: words of the reason"
		err      string
	}{
		{name: "ok/standard-anywhere", want: []string{"standard"}, docker: map[string]bool{}, hardened: noRules, sandbox: noProbe, keep: []string{"standard"}},
		{name: "ok/all-proved", want: all, docker: withRunsc, policy: both, keep: all},
		{name: "ok/hardened-without-runsc", want: []string{"standard", "hardened"}, docker: plain, policy: []string{"runc"}, keep: []string{"standard", "hardened"}},
		{name: "ok/duplicates-once", want: []string{"standard", "standard"}, docker: plain, keep: []string{"standard"}},
		{name: "drop/duplicates-once", want: []string{"sandboxed", "sandboxed"}, docker: plain, policy: both, dropped: []string{"sandboxed: no runsc runtime"}},
		{name: "drop/no-hardened-proof", want: all, docker: withRunsc, policy: both, hardened: noRules,
			keep: []string{"standard"}, dropped: []string{"hardened: nftables rules missing", "sandboxed: includes hardened"}},
		{name: "drop/no-runsc-in-dockerd", want: all, docker: plain, policy: both,
			keep: []string{"standard", "hardened"}, dropped: []string{"sandboxed: no runsc runtime configured (docker info: Runtimes); run scripts/ensure-gvisor.sh"}},
		{name: "drop/policy-refuses-runsc", want: []string{"sandboxed", "standard"}, docker: withRunsc, policy: []string{"runc"},
			keep: []string{"standard"}, dropped: []string{"sandboxed: policy does not allow the runsc runtime"}},
		{name: "drop/probe-failed", want: all, docker: withRunsc, policy: both, sandbox: noProbe,
			keep: []string{"standard", "hardened"}, dropped: []string{"sandboxed: did not prove it runs containers inside gVisor: dmesg exited 1"}},
		{name: "drop/hardened-reason-first", want: []string{"sandboxed"}, docker: plain, policy: nil, hardened: noRules, sandbox: noProbe,
			dropped: []string{"sandboxed: hardened, whose host rules and egress proxy are not proved in place: nftables"}},
		{name: "drop/nothing-left", want: []string{"hardened"}, docker: withRunsc, policy: both, hardened: noRules,
			dropped: []string{"hardened: not proved in place"}},
		{name: "fail/unknown-level", want: []string{"standard", "vm"}, docker: withRunsc, err: `isolation "vm" is not one of`},
		{name: "fail/case", want: []string{"Standard"}, docker: withRunsc, err: `isolation "Standard"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, dropped, err := Deliverable(tc.want, tc.docker, tc.policy, tc.hardened, tc.sandbox)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keep, tc.keep) {
				t.Errorf("keep %v, want %v", keep, tc.keep)
			}
			if len(dropped) != len(tc.dropped) {
				t.Fatalf("dropped %+v, want %v", dropped, tc.dropped)
			}
			for i, d := range dropped {
				level, why, _ := strings.Cut(tc.dropped[i], ": ")
				if d.Level != level || !strings.Contains(d.Why, why) {
					t.Errorf("dropped[%d] = %+v, want %s: …%s…", i, d, level, why)
				}
			}
		})
	}
}

// TestDockerRuntimes asks the real dockerd, which always has runc. Tests
// that need Docker do not skip: `make test` provides a daemon.
func TestDockerRuntimes(t *testing.T) {
	dockertest.Client(t)
	socket := dockertest.Socket()
	rt, err := DockerRuntimes(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	if !rt["runc"] {
		t.Fatalf("dockerd's runtimes %v lack runc", rt)
	}
	if _, err := DockerRuntimes(context.Background(), filepath.Join(t.TempDir(), "none.sock")); err == nil ||
		!strings.Contains(err.Error(), "docker info on") {
		t.Fatalf("a missing socket: %v", err)
	}
}
