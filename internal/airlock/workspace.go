package airlock

import (
	"strings"
	"time"
)

// Isolation is how strongly a session is kept apart from the host and
// from other sessions. Each workspace names one; each node lists those it
// can run.
type Isolation string

const (
	// IsolationStandard: non-root, capabilities dropped, no-new-privileges,
	// read-only root, limits, default seccomp.
	IsolationStandard Isolation = "standard"
	// IsolationHardened adds a network per session and egress policy.
	IsolationHardened Isolation = "hardened"
	// IsolationSandboxed adds a sandboxing runtime (gVisor, Kata).
	IsolationSandboxed Isolation = "sandboxed"
)

// Valid reports whether i is a known level.
func (i Isolation) Valid() bool {
	return i == IsolationStandard || i == IsolationHardened || i == IsolationSandboxed
}

// Workspace is what a user can launch: an image and how to run it.
type Workspace struct {
	ID          string
	Name        string
	Description string
	Image       string
	Isolation   Isolation
	// NanoCPUs is the CPU limit in 1e-9 CPUs; 0 means the node's default.
	NanoCPUs int64
	// Memory is the memory limit in bytes; 0 means the node's default.
	Memory int64
	// PidsLimit bounds processes; 0 means the node's default.
	PidsLimit int64
	// ShmSize is the size of /dev/shm in bytes; 0 means Docker's default.
	ShmSize int64
	Env     map[string]string
	// StartURL is what a browser workspace opens first.
	StartURL  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks a workspace's fields before it is stored.
func (w *Workspace) Validate() error {
	if err := ValidName("workspace", w.Name); err != nil {
		return err
	}
	if w.Image == "" || strings.ContainsAny(w.Image, " \t\n") || len(w.Image) > 255 {
		return Errorf(EINVALID, "workspace image %q is not an image reference", w.Image)
	}
	if w.Isolation == "" {
		w.Isolation = IsolationStandard
	}
	if !w.Isolation.Valid() {
		return Errorf(EINVALID, "isolation %q is not one of standard, hardened, sandboxed", w.Isolation)
	}
	if w.NanoCPUs < 0 || w.Memory < 0 || w.PidsLimit < 0 || w.ShmSize < 0 {
		return Errorf(EINVALID, "resource limits must not be negative")
	}
	if w.Memory != 0 && w.Memory < 6<<20 {
		return Errorf(EINVALID, "memory limit %d is below Docker's minimum of 6 MiB", w.Memory)
	}
	for k := range w.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.HasPrefix(k, "AIRLOCK_") {
			return Errorf(EINVALID, "environment variable name %q is not allowed", k)
		}
	}
	if len(w.Description) > 1024 || len(w.StartURL) > 2048 {
		return Errorf(EINVALID, "description or start URL is too long")
	}
	return nil
}
