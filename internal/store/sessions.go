package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

const sessionCols = `id, user_id, workspace_id, node_id, container_id, state, reason, register_hash, agent_hash,
	created_at, updated_at, started_at, ready_at, stopped_at, last_heartbeat, container_addrs, launch_key,
	end_reason, expires_at, last_input_at, last_viewer_at, pooled_at, viewer, resume_hash, resume_by, policy`

func scanSession(s scanner) (*airlock.Session, error) {
	var x airlock.Session
	var created, updated int64
	var started, ready, stopped, heartbeat, expires, input, lastViewer, pooled, resumeBy sql.NullInt64
	var addrs, viewer, policy string
	if err := s.Scan(&x.ID, &x.UserID, &x.WorkspaceID, &x.NodeID, &x.ContainerID, &x.State, &x.Reason,
		&x.RegisterHash, &x.AgentHash, &created, &updated, &started, &ready, &stopped, &heartbeat, &addrs, &x.LaunchKey,
		&x.EndReason, &expires, &input, &lastViewer, &pooled, &viewer, &x.ResumeHash, &resumeBy, &policy); err != nil {
		return nil, err
	}
	var err error
	if x.ContainerAddrs, err = parseAddrs(addrs); err != nil {
		return nil, fmt.Errorf("session %s: container_addrs: %w", x.ID, err)
	}
	x.CreatedAt, x.UpdatedAt = fromMicros(created), fromMicros(updated)
	x.StartedAt, x.ReadyAt = ptrFromNullMicros(started), ptrFromNullMicros(ready)
	x.StoppedAt, x.LastHeartbeat = ptrFromNullMicros(stopped), ptrFromNullMicros(heartbeat)
	x.ExpiresAt, x.LastInputAt, x.LastViewerAt = ptrFromNullMicros(expires), ptrFromNullMicros(input), ptrFromNullMicros(lastViewer)
	if viewer != "" {
		if err := json.Unmarshal([]byte(viewer), &x.Viewer); err != nil {
			return nil, fmt.Errorf("session %s: viewer: %w", x.ID, err)
		}
	}
	x.PooledAt, x.ResumeBy = ptrFromNullMicros(pooled), ptrFromNullMicros(resumeBy)
	if err := unmarshalPolicy(policy, &x.Policy); err != nil {
		return nil, fmt.Errorf("session %s: %w", x.ID, err)
	}
	return &x, nil
}

// CreateSession stores s; a zero CreatedAt or UpdatedAt is set to now.
// ECONFLICT if its ID is taken.
func (db *DB) CreateSession(ctx context.Context, s *airlock.Session) error {
	return db.CreateSessionWithin(ctx, s, 0, 0)
}

// sessionLock serializes checked session creation across api processes
// sharing a PostgreSQL database (SQLite transactions already take the
// write lock up front).
const sessionLock = 0x6169726c73657373

// CreateSessionWithin stores s unless that would give its user more than
// userLimit or its node more than nodeCapacity active sessions (0: no
// bound), counting and inserting in one transaction so concurrent
// launches cannot overshoot. ELIMIT or EUNAVAILABLE name the bound.
func (db *DB) CreateSessionWithin(ctx context.Context, s *airlock.Session, userLimit, nodeCapacity int) (err error) {
	if s.State == "" {
		return airlock.Errorf(airlock.EINVALID, "session %q has no state", s.ID)
	}
	db.stamp(&s.CreatedAt, &s.UpdatedAt)
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if db.dialect == dialectPostgres && (userLimit > 0 || nodeCapacity > 0) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(sessionLock)); err != nil {
			return fmt.Errorf("create session %s: lock: %w", s.ID, err)
		}
	}
	count := func(f airlock.SessionFilter) (int, error) {
		where, args := sessionWhere(f)
		var n int
		err := tx.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*) FROM sessions`+where), args...).Scan(&n)
		return n, err
	}
	if userLimit > 0 {
		n, err := count(airlock.SessionFilter{UserID: s.UserID, States: airlock.ActiveStates})
		if err != nil {
			return fmt.Errorf("create session %s: count user's sessions: %w", s.ID, err)
		}
		if n >= userLimit {
			return airlock.Errorf(airlock.ELIMIT, "you have %d active sessions and your limit is %d; end one first", n, userLimit)
		}
	}
	if nodeCapacity > 0 {
		n, err := count(airlock.SessionFilter{NodeID: s.NodeID, States: airlock.ActiveStates})
		if err != nil {
			return fmt.Errorf("create session %s: count node's sessions: %w", s.ID, err)
		}
		if n >= nodeCapacity {
			return airlock.Errorf(airlock.EUNAVAILABLE, "the chosen node is full; try again")
		}
	}
	policy, err := policyJSON(s.Policy)
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	_, err = tx.ExecContext(ctx, db.rebind(`INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		s.ID, s.UserID, s.WorkspaceID, s.NodeID, s.ContainerID, string(s.State), s.Reason,
		nullBytes(s.RegisterHash), nullBytes(s.AgentHash), micros(s.CreatedAt), micros(s.UpdatedAt),
		ptrMicros(s.StartedAt), ptrMicros(s.ReadyAt), ptrMicros(s.StoppedAt), ptrMicros(s.LastHeartbeat),
		formatAddrs(s.ContainerAddrs), s.LaunchKey,
		string(s.EndReason), ptrMicros(s.ExpiresAt), ptrMicros(s.LastInputAt), ptrMicros(s.LastViewerAt), ptrMicros(s.PooledAt), viewerJSON(s.Viewer),
		nullBytes(s.ResumeHash), ptrMicros(s.ResumeBy), policy)
	if err != nil {
		if isUnique(err) && s.LaunchKey != "" {
			return airlock.Errorf(airlock.ECONFLICT, "a session with launch key %q exists already", s.LaunchKey)
		}
		return writeErr(err, "session", s.ID, "create session "+s.ID)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	return nil
}

// SessionByID returns the session with the given ID.
func (db *DB) SessionByID(ctx context.Context, id string) (*airlock.Session, error) {
	s, err := scanSession(db.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr(err, "session", id)
	}
	return s, nil
}

// SessionByLaunchKey returns user's session made with launch key key.
func (db *DB) SessionByLaunchKey(ctx context.Context, user, key string) (*airlock.Session, error) {
	if key == "" {
		return nil, airlock.Errorf(airlock.ENOTFOUND, "no launch key given")
	}
	s, err := scanSession(db.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE user_id = ? AND launch_key = ?`, user, key))
	if err != nil {
		return nil, rowErr(err, "session with launch key", key)
	}
	return s, nil
}

// sessionWhere is f as a WHERE clause, or "" when f matches everything.
func sessionWhere(f airlock.SessionFilter) (string, []any) {
	var conds []string
	var args []any
	if f.UserID != "" {
		conds = append(conds, "user_id = ?")
		args = append(args, f.UserID)
	}
	if f.NodeID != "" {
		conds = append(conds, "node_id = ?")
		args = append(args, f.NodeID)
	}
	if f.WorkspaceID != "" {
		conds = append(conds, "workspace_id = ?")
		args = append(args, f.WorkspaceID)
	}
	if len(f.States) > 0 {
		conds = append(conds, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListSessions returns the sessions f selects, newest first.
func (db *DB) ListSessions(ctx context.Context, f airlock.SessionFilter) ([]*airlock.Session, error) {
	where, args := sessionWhere(f)
	ss, err := list(ctx, db, scanSession, `SELECT `+sessionCols+` FROM sessions`+where+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return ss, nil
}

// CountSessions returns how many sessions f selects.
func (db *DB) CountSessions(ctx context.Context, f airlock.SessionFilter) (int, error) {
	where, args := sessionWhere(f)
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM sessions`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

// CountSessionsByNode returns how many sessions f selects on each node
// that has any, in one query (the scheduler's load of the whole fleet).
// f.NodeID must be empty.
func (db *DB) CountSessionsByNode(ctx context.Context, f airlock.SessionFilter) (map[string]int, error) {
	if f.NodeID != "" {
		return nil, airlock.Errorf(airlock.EINVALID, "count sessions by node of one node %q", f.NodeID)
	}
	where, args := sessionWhere(f)
	rows, err := db.query(ctx, `SELECT node_id, COUNT(*) FROM sessions`+where+` GROUP BY node_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("count sessions by node: %w", err)
	}
	defer rows.Close()
	counts := make(map[string]int)
	for rows.Next() {
		var node string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			return nil, fmt.Errorf("count sessions by node: %w", err)
		}
		counts[node] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count sessions by node: %w", err)
	}
	return counts, nil
}

// UpdateSession applies u in one conditional UPDATE if the session's state
// is in u.From, sets UpdatedAt to now and returns the session as stored
// after it. ENOTFOUND if there is no such session; ECONFLICT, naming the
// current state, if it is in none of u.From.
//
// An empty To keeps the state: only the fields are written (a heartbeat
// while ready, the start time while starting or ready). Otherwise every
// From must be able to reach To (airlock.CanTransition), or To equal it.
// Final states never change. A call breaking these rules is a bug and
// fails with EINVALID before touching the database.
func (db *DB) UpdateSession(ctx context.Context, id string, u airlock.SessionUpdate, now time.Time) (*airlock.Session, error) {
	if len(u.From) == 0 {
		return nil, airlock.Errorf(airlock.EINVALID, "update of session %q names no state to move from", id)
	}
	for _, from := range u.From {
		stay := u.To == "" || u.To == from
		if from.Final() || (!stay && !airlock.CanTransition(from, u.To)) {
			to := u.To
			if to == "" {
				to = from
			}
			return nil, airlock.Errorf(airlock.EINVALID, "a session cannot go from %s to %s", from, to)
		}
	}
	set := []string{"updated_at = ?"}
	args := []any{micros(now)}
	if u.To != "" {
		set = append(set, "state = ?")
		args = append(args, string(u.To))
	}
	add := func(col string, v any) {
		set = append(set, col+" = ?")
		args = append(args, v)
	}
	if u.NodeID != nil {
		add("node_id", *u.NodeID)
	}
	if u.ContainerID != nil {
		add("container_id", *u.ContainerID)
	}
	if u.ContainerAddrs != nil {
		add("container_addrs", formatAddrs(*u.ContainerAddrs))
	}
	if u.Reason != nil {
		add("reason", *u.Reason)
	}
	if u.RegisterHash != nil {
		add("register_hash", nullBytes(*u.RegisterHash))
	}
	if u.AgentHash != nil {
		add("agent_hash", nullBytes(*u.AgentHash))
	}
	if u.EndReason != nil {
		add("end_reason", string(*u.EndReason))
	}
	for _, t := range []struct {
		col string
		v   *time.Time
	}{
		{"started_at", u.StartedAt},
		{"ready_at", u.ReadyAt},
		{"stopped_at", u.StoppedAt},
		{"last_heartbeat", u.LastHeartbeat},
		{"expires_at", u.ExpiresAt},
		{"last_input_at", u.LastInputAt},
		{"last_viewer_at", u.LastViewerAt},
		{"resume_by", u.ResumeBy},
	} {
		if t.v != nil {
			add(t.col, micros(*t.v))
		}
	}
	args = append(args, id)
	for _, from := range u.From {
		args = append(args, string(from))
	}
	q := `UPDATE sessions SET ` + strings.Join(set, ", ") +
		` WHERE id = ? AND state IN (` + placeholders(len(u.From)) + `) RETURNING ` + sessionCols
	s, err := scanSession(db.queryRow(ctx, q, args...))
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	cur, err := db.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, airlock.Errorf(airlock.ECONFLICT, "session %q is %s, not %s", id, cur.State, joinStates(u.From))
}

// joinStates is "a", "a or b", "a, b or c".
func joinStates(states []airlock.SessionState) string {
	var b strings.Builder
	for i, s := range states {
		switch {
		case i == 0:
		case i == len(states)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// ClaimRegistration is the agent's registration in one conditional
// UPDATE: a starting session whose registration hash equals hash becomes
// ready with agentHash. The hash stays, so that the same token works
// again within retry of the first registration (an agent whose answer was
// lost asks again): the retry replaces agentHash, which invalidates the
// first credential, and keeps ReadyAt. The api clears the hash at the
// agent's first heartbeat; retry 0 makes the token work once.
//
// When nothing matched, it reads the session to tell the cases apart
// without telling an unauthenticated caller more than it knows: no
// session, a wrong hash and a cleared one are all ENOTFOUND; only the
// right hash on a session that is not starting, or ready for longer than
// retry, is ECONFLICT.
func (db *DB) ClaimRegistration(ctx context.Context, id string, hash, agentHash []byte, now time.Time, retry time.Duration) (*airlock.Session, error) {
	if len(hash) == 0 {
		return nil, notFound("session", id)
	}
	if len(agentHash) == 0 {
		return nil, airlock.Errorf(airlock.EINVALID, "registration of session %q has no agent credential", id)
	}
	starting, ready, warm := string(airlock.SessionStarting), string(airlock.SessionReady), string(airlock.SessionWarm)
	// A pool's session becomes warm, not ready: it is no one's yet (one
	// handed out and resumed is its user's, and ready). A retry keeps the
	// state it has.
	s, err := scanSession(db.queryRow(ctx, `UPDATE sessions
		SET agent_hash = ?,
			state = CASE WHEN state = ? THEN (CASE WHEN pooled_at IS NULL OR user_id <> '' THEN ? ELSE ? END) ELSE state END,
			ready_at = CASE WHEN state = ? THEN ? ELSE ready_at END, updated_at = ?
		WHERE id = ? AND register_hash = ? AND (state = ? OR (state IN (?, ?) AND ready_at > ?))
		RETURNING `+sessionCols,
		agentHash, starting, ready, warm, starting, micros(now), micros(now),
		id, hash, starting, ready, warm, micros(now.Add(-retry))))
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claim registration of session %s: %w", id, err)
	}
	cur, err := db.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.RegisterHash == nil || subtle.ConstantTimeCompare(cur.RegisterHash, hash) != 1 {
		return nil, notFound("session", id)
	}
	if (cur.State == airlock.SessionReady || cur.State == airlock.SessionWarm) && cur.ReadyAt != nil {
		return nil, airlock.Errorf(airlock.ECONFLICT, "session %q registered %s ago; its registration token works again only within %s of the first use",
			id, now.Sub(*cur.ReadyAt).Round(time.Second), retry)
	}
	return nil, airlock.Errorf(airlock.ECONFLICT, "session %q is %s, not %s", id, cur.State, airlock.SessionStarting)
}

// DeleteSession removes a session record.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	ok, err := db.execOne(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	if !ok {
		return notFound("session", id)
	}
	return nil
}

// formatAddrs is the container_addrs column: addresses, comma-separated.
func formatAddrs(as []netip.Addr) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// parseAddrs reads the container_addrs column; "" is nil (not known).
func parseAddrs(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Addr
	for f := range strings.SplitSeq(s, ",") {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// viewerJSON is the viewer column: ” for the zero settings.
func viewerJSON(v airlock.Viewer) string {
	if v == (airlock.Viewer{}) {
		return ""
	}
	b, _ := json.Marshal(v) // three plain fields: cannot fail
	return string(b)
}
