package enroll

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

func TestDeliverable(t *testing.T) {
	withRunsc := map[string]bool{"runc": true, "io.containerd.runc.v2": true, "runsc": true}
	plain := map[string]bool{"runc": true, "io.containerd.runc.v2": true}
	for _, tc := range []struct {
		name    string
		want    []string
		docker  map[string]bool
		policy  []string
		keep    []string
		dropped []string // "level: words of the reason"
		err     string
	}{
		{name: "ok/standard-anywhere", want: []string{"standard"}, docker: map[string]bool{}, keep: []string{"standard"}},
		{name: "ok/all-with-runsc", want: []string{"standard", "hardened", "sandboxed"}, docker: withRunsc, policy: []string{"runc", "runsc"},
			keep: []string{"standard", "hardened", "sandboxed"}},
		{name: "ok/duplicates-once", want: []string{"standard", "standard"}, docker: plain, keep: []string{"standard"}},
		{name: "drop/no-runsc-in-dockerd", want: []string{"standard", "hardened", "sandboxed"}, docker: plain, policy: []string{"runc", "runsc"},
			keep: []string{"standard"}, dropped: []string{"hardened: no runsc runtime", "sandboxed: no runsc runtime"}},
		{name: "drop/policy-refuses-runsc", want: []string{"sandboxed", "standard"}, docker: withRunsc, policy: []string{"runc"},
			keep: []string{"standard"}, dropped: []string{"sandboxed: policy does not allow the runsc runtime"}},
		{name: "drop/nothing-left", want: []string{"hardened"}, docker: plain, policy: []string{"runsc"},
			dropped: []string{"hardened: no runsc runtime"}},
		{name: "fail/unknown-level", want: []string{"standard", "vm"}, docker: withRunsc, err: `isolation "vm" is not one of`},
		{name: "fail/case", want: []string{"Standard"}, docker: withRunsc, err: `isolation "Standard"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, dropped, err := Deliverable(tc.want, tc.docker, tc.policy)
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
