package seccomp

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+ChromiumFile+" from ChromiumProfile")

// TestDefaultRoundTrip checks the Profile types lose nothing of
// default.json, so ChromiumProfile is the default plus Added and no less.
func TestDefaultRoundTrip(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(defaultJSON, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatal("default.json does not survive a round trip through Profile")
	}
}

func TestChromiumProfile(t *testing.T) {
	raw, err := ChromiumProfile()
	if err != nil {
		t.Fatal(err)
	}
	var got Profile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("profile does not parse: %v", err)
	}
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}

	// Everything but the rule list is the default's.
	gotRest, defRest := got, *def
	gotRest.Syscalls, defRest.Syscalls = nil, nil
	if !reflect.DeepEqual(gotRest, defRest) {
		t.Error("profile header differs from Docker's default")
	}
	if got.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("defaultAction = %s", got.DefaultAction)
	}

	// Every default rule, in order, then exactly Added.
	if len(got.Syscalls) != len(def.Syscalls)+1 {
		t.Fatalf("%d rules, want the default's %d plus one", len(got.Syscalls), len(def.Syscalls))
	}
	for i, r := range def.Syscalls {
		if !reflect.DeepEqual(got.Syscalls[i], r) {
			t.Errorf("rule %d (%v) differs from the default's", i, r.Names)
		}
	}
	last := got.Syscalls[len(got.Syscalls)-1]
	if !reflect.DeepEqual(last, Added) {
		t.Errorf("last rule = %+v, want %+v", last, Added)
	}

	// The additions are unconditional allows for exactly these syscalls.
	if !slices.Equal(last.Names, []string{"chroot", "clone", "unshare"}) ||
		last.Action != "SCMP_ACT_ALLOW" || last.Args != nil ||
		last.Includes != nil || last.Excludes != nil {
		t.Errorf("added rule is not an unconditional allow of chroot, clone, unshare: %+v", last)
	}

	// Sanity: the default really gates them on CAP_SYS_ADMIN (chroot on
	// CAP_SYS_CHROOT), and still
	// answers clone3 with ENOSYS for containers without it.
	gated := map[string]bool{}
	clone3ENOSYS := false
	for _, r := range def.Syscalls {
		for _, n := range r.Names {
			if r.Includes != nil && r.Action == "SCMP_ACT_ALLOW" &&
				(slices.Contains(r.Includes.Caps, "CAP_SYS_ADMIN") || n == "chroot" && slices.Contains(r.Includes.Caps, "CAP_SYS_CHROOT")) {
				gated[n] = true
			}
			if n == "clone3" && r.Action == "SCMP_ACT_ERRNO" && r.ErrnoRet != nil && *r.ErrnoRet == 38 &&
				r.Excludes != nil && slices.Contains(r.Excludes.Caps, "CAP_SYS_ADMIN") {
				clone3ENOSYS = true
			}
		}
	}
	for _, n := range Added.Names {
		if !gated[n] {
			t.Errorf("%s is not gated on a capability in the default profile", n)
		}
	}
	if !clone3ENOSYS {
		t.Error("default profile lost its clone3 ENOSYS rule")
	}

	// A few syscalls any program needs stay allowed unconditionally.
	allowed := map[string]bool{}
	for _, r := range got.Syscalls {
		if r.Action == "SCMP_ACT_ALLOW" && r.Args == nil && r.Includes == nil && r.Excludes == nil {
			for _, n := range r.Names {
				allowed[n] = true
			}
		}
	}
	for _, n := range []string{"read", "write", "openat", "mmap", "execve", "exit_group", "chroot", "clone", "unshare"} {
		if !allowed[n] {
			t.Errorf("%s is not allowed unconditionally", n)
		}
	}
	for _, n := range []string{"mount", "umount2", "bpf", "ptrace", "perf_event_open", "init_module", "clone3", "setns"} {
		if allowed[n] {
			t.Errorf("%s is allowed unconditionally; only Added should be new", n)
		}
	}
}

// TestChromiumProfileFile keeps the committed profile equal to
// ChromiumProfile. Regenerate it with `go generate ./internal/seccomp`.
func TestChromiumProfileFile(t *testing.T) {
	want, err := ChromiumProfile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", filepath.FromSlash(ChromiumFile))
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go generate ./internal/seccomp)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./internal/seccomp", ChromiumFile)
	}
}
