-- Single sign-on login states already used: a hash of each state (id)
-- until the state would have expired anyway. An INSERT that meets the
-- primary key means the state is replayed. Kept in the store so that
-- every api process, and a restarted one, refuses a replay.

CREATE TABLE spent_states (
	id         TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX spent_states_expires ON spent_states (expires_at);
