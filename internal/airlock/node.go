package airlock

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

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

// MaxLabels bounds the labels of a node, and those a workspace requires.
const MaxLabels = 32

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)

// ValidLabels checks labels (a node's, or those a workspace requires of
// its node; what names them): keys of 1-63 letters, digits, '.', '_', '/'
// or '-' starting with a letter or digit, values of at most 255
// printable characters, at most MaxLabels of them.
func ValidLabels(what string, labels map[string]string) error {
	if len(labels) > MaxLabels {
		return Errorf(EINVALID, "%s: %d labels, at most %d", what, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return Errorf(EINVALID, "%s: label key %q must be 1-63 letters, digits, '.', '_', '/' or '-', starting with a letter or digit", what, k)
		}
		if len(v) > 255 || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return Errorf(EINVALID, "%s: label %s's value must be at most 255 printable characters", what, k)
		}
	}
	return nil
}

// LabelText is labels as "k=v, k2=v2", sorted by key: how messages and
// listings show a node's labels or a workspace's required ones.
func LabelText(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ", ")
}
