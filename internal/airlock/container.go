package airlock

// ContainerSpec is one session container as the infra side asks a node
// for it. The launcher turns it into Docker's create calls; the node's
// policy decides what it may hold.
type ContainerSpec struct {
	Name       string
	Image      string
	Env        []string
	Labels     map[string]string
	User       string
	Memory     int64
	NanoCPUs   int64
	PidsLimit  int64
	ShmSize    int64
	ExtraHosts []string
	Tmpfs      map[string]string
	// Volumes are the targets of anonymous volumes: what a kept
	// (suspended) session must find again when its container starts
	// again, on the node's disk and removed with the container.
	Volumes []string
	Runtime string
	// Isolation is the session network's level (standard, hardened or
	// sandboxed); the node enforces what each means.
	Isolation string
	// Egress is a hardened workspace's egress policy (JSON), carried by
	// the session network for the node's egress proxy and resolver.
	Egress string
	// SecurityOpt carries a seccomp profile (by content) when the workspace
	// needs one; the node adds no-new-privileges and drops capabilities.
	SecurityOpt []string
}

// Container is a session container as a node reports it.
type Container struct {
	ID        string
	SessionID string
	State     string // Docker's: created, running, exited, …
	Status    string // Docker's words, e.g. "Exited (1) 3 seconds ago"
}

// Network is a session network as a node reports it.
type Network struct {
	ID         string
	SessionID  string
	Containers int
}
