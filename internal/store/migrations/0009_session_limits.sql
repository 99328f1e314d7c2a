-- Session limits and why a session ended.
--
-- Workspaces: the idle timeout (no viewer and no input), the longer one
-- with a viewer connected but unused, the lifetime and how far a user may
-- extend it, each in milliseconds; 0 takes the deployment's default.
--
-- Sessions: end_reason, a word a program reads (idle, lifetime, user,
-- admin, lost, failed; '' while running and for sessions that ended
-- before this migration); expires_at, when the lifetime ends (NULL for
-- sessions launched before: they get the default lifetime from their
-- creation); last_input_at and last_viewer_at, the viewer's activity as
-- the agent's heartbeats report it.

ALTER TABLE workspaces ADD COLUMN idle_timeout_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN viewer_idle_timeout_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN lifetime_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN max_lifetime_ms BIGINT NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN last_input_at BIGINT;
ALTER TABLE sessions ADD COLUMN last_viewer_at BIGINT;
