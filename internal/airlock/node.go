package airlock

import "time"

// NodeState is a provision node's state as the api sees it.
type NodeState string

const (
	// NodeReady answers; it takes new sessions unless it is draining.
	NodeReady NodeState = "ready"
	// NodeDown missed its heartbeats; its sessions are not reachable.
	NodeDown NodeState = "down"
)

// Node is an enrolled provision node.
type Node struct {
	ID   string
	Name string
	// URL is the node's mutual-TLS Docker API, e.g. https://10.0.0.5:2376.
	URL string
	// Capacity is how many sessions the node runs at most.
	Capacity  int
	Isolation []Isolation
	Labels    map[string]string
	State     NodeState
	// Draining is an administrator's: the node keeps its sessions and
	// takes no new ones, whether it is up or down (liveness is State's).
	Draining bool
	// CertSerial and CertNotAfter describe the node's current certificate;
	// removing the node revokes that serial.
	CertSerial   string
	CertNotAfter time.Time
	// CertPrevSerial is the serial CertSerial replaced at the last
	// renewal: the node serves with it until it has written the new one.
	CertPrevSerial string
	LastHeartbeat  time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Supports reports whether the node can run level i.
func (n *Node) Supports(i Isolation) bool {
	for _, l := range n.Isolation {
		if l == i {
			return true
		}
	}
	return false
}
