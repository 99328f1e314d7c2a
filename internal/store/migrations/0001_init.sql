-- Airlock's first schema. Written in the SQL that SQLite and PostgreSQL
-- share; {{bytes}} and {{serial_pk}} are the two words that differ (see
-- migrate.go). Times are BIGINT microseconds since the Unix epoch, UTC; an
-- unset time is NULL. Maps and lists are JSON text.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	max_sessions  INTEGER NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);

-- A user's tokens and browser sessions go with the user.
CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	hash         {{bytes}} NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE web_sessions (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       {{bytes}} NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user_id ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);

CREATE TABLE workspaces (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL,
	image       TEXT NOT NULL,
	isolation   TEXT NOT NULL,
	nano_cpus   BIGINT NOT NULL,
	memory      BIGINT NOT NULL,
	pids_limit  BIGINT NOT NULL,
	shm_size    BIGINT NOT NULL,
	env         TEXT NOT NULL,
	start_url   TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);

CREATE TABLE nodes (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL UNIQUE,
	url            TEXT NOT NULL,
	capacity       INTEGER NOT NULL,
	isolation      TEXT NOT NULL,
	labels         TEXT NOT NULL,
	state          TEXT NOT NULL,
	cert_serial    TEXT NOT NULL,
	cert_not_after BIGINT,
	last_heartbeat BIGINT,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);

CREATE TABLE revoked_certs (
	serial    TEXT PRIMARY KEY,
	not_after BIGINT NOT NULL
);

-- Sessions are history as well as state: they keep the IDs of their user,
-- workspace and node after those are deleted, so no foreign keys here. The
-- api stops a user's, workspace's or node's active sessions before it
-- deletes them.
CREATE TABLE sessions (
	id             TEXT PRIMARY KEY,
	user_id        TEXT NOT NULL,
	workspace_id   TEXT NOT NULL,
	node_id        TEXT NOT NULL,
	container_id   TEXT NOT NULL,
	state          TEXT NOT NULL,
	reason         TEXT NOT NULL,
	register_hash  {{bytes}},
	agent_hash     {{bytes}},
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	started_at     BIGINT,
	ready_at       BIGINT,
	stopped_at     BIGINT,
	last_heartbeat BIGINT
);
CREATE INDEX sessions_state ON sessions (state);
CREATE INDEX sessions_user_id ON sessions (user_id, state);
CREATE INDEX sessions_node_id ON sessions (node_id, state);
CREATE INDEX sessions_created_at ON sessions (created_at);

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value {{bytes}} NOT NULL
);

CREATE TABLE audit_events (
	id     {{serial_pk}},
	at     BIGINT NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL
);
