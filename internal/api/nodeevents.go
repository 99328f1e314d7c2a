package api

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// nodeEvents records the refusals a node reports (its policy's refused
// Docker calls, its egress proxy's refused destinations), in the node's
// name: actor node:<name>, outcome failure. Only a node's client
// certificate may report, only the actions a node has, and a batch
// either is recorded whole or refused whole with what was wrong.
func (s *Server) nodeEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	node, err := s.nodeCaller(ctx, r)
	if err != nil {
		return err
	}
	var b airlock.NodeEventBatch
	if err := decode(r, &b); err != nil {
		return err
	}
	if len(b.Events) > airlock.MaxNodeEvents {
		return airlock.Errorf(airlock.EINVALID, "events: %d in one report, at most %d", len(b.Events), airlock.MaxNodeEvents)
	}
	if b.Dropped < 0 {
		return airlock.Errorf(airlock.EINVALID, "dropped: %d is negative", b.Dropped)
	}
	events := make([]*airlock.AuditEvent, 0, len(b.Events)+1)
	actor := "node:" + node.Name
	for i, ev := range b.Events {
		if !slices.Contains(airlock.NodeEventActions, ev.Action) {
			return airlock.Errorf(airlock.EINVALID, "events[%d].action %q: a node reports only %v", i, ev.Action, airlock.NodeEventActions)
		}
		if ev.Time.IsZero() {
			return airlock.Errorf(airlock.EINVALID, "events[%d].time is required", i)
		}
		detail := fmt.Sprintf("at %s: %s", ev.Time.UTC().Format(airlock.AuditTimeLayout), ev.Detail)
		e := &airlock.AuditEvent{ActorKind: airlock.ActorNode, Actor: actor, Action: ev.Action, Target: ev.Target,
			Outcome: airlock.OutcomeFailure, Client: ev.Client, Session: ev.Session, Detail: detail}
		if err := e.Normalize(s.clock.now()); err != nil {
			return airlock.Errorf(airlock.EINVALID, "events[%d]: %s", i, airlock.ErrorMessage(err))
		}
		events = append(events, e)
	}
	if b.Dropped > 0 {
		events = append(events, &airlock.AuditEvent{ActorKind: airlock.ActorNode, Actor: actor, Action: "node.events.dropped",
			Target: node.Name, Outcome: airlock.OutcomeFailure,
			Detail: fmt.Sprintf("%d refusals were not reported: the node's queue was full", b.Dropped)})
	}
	// One append: a report is recorded whole or not at all, so the
	// node's resend after a failure adds no duplicates.
	if err := s.store.AppendAudit(ctx, events...); err != nil {
		return fmt.Errorf("record node %s's events: %w", node.Name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
