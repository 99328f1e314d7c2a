-- Warm pools: per workspace, how many started, registered, unassigned
-- sessions to keep (size), spread over the nodes, and how long one may
-- wait before it is recycled (max_age_ms). A pool's session is a session
-- row in state 'warm' with no user, pooled_at its making; handed out, it
-- takes its user and created_at becomes the hand-out's time.

CREATE TABLE pools (
	workspace_id TEXT PRIMARY KEY,
	size         INTEGER NOT NULL,
	max_age_ms   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);

ALTER TABLE sessions ADD COLUMN pooled_at BIGINT;
CREATE INDEX sessions_workspace_state ON sessions (workspace_id, state);
