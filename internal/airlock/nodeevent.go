package airlock

import "time"

// NodeEvent is a refusal a provision node reports for the audit log: a
// Docker API call its policy refused, or a destination its egress proxy
// or resolver refused to a session.
type NodeEvent struct {
	// Time is when the node refused, by its clock.
	Time time.Time `json:"time"`
	// Action is one of NodeEventActions.
	Action string `json:"action"`
	// Target is what was refused: "POST /containers/create", or a
	// destination "example.com:443".
	Target string `json:"target"`
	// Session is the session whose request it was, when the node knows.
	Session string `json:"session,omitempty"`
	// Client is who was refused, as the node saw it: the Docker client's
	// certificate name or the session container's address.
	Client string `json:"client,omitempty"`
	// Detail is the rule and the reason.
	Detail string `json:"detail"`
}

// NodeEventBatch is one report of a node: at most MaxNodeEvents events,
// and how many the node dropped since its last report for want of room
// (the api was unreachable for long).
type NodeEventBatch struct {
	Events  []NodeEvent `json:"events"`
	Dropped int64       `json:"dropped,omitempty"`
}

// MaxNodeEvents bounds a NodeEventBatch.
const MaxNodeEvents = 100

// The actions a node may report; the api refuses any other, so a node
// cannot write events in anyone else's name.
const (
	NodeProvisionRefused = "provision.refused"
	NodeEgressRefused    = "egress.refused"
)

// NodeEventActions are the actions of NodeEvent.
var NodeEventActions = []string{NodeProvisionRefused, NodeEgressRefused}
