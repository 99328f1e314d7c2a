-- The audit log becomes structured, append-only and one hash chain.
--
-- New columns: actor_kind (user, node, agent, system, anonymous), outcome
-- (success, failure), client (the caller's address), session_id, and the
-- chain: chain_v (the encoding version, airlock.AuditChainV1), prev_hash
-- and hash (SHA-256, see airlock.AuditEvent.ChainHash).
--
-- Rows written before this migration are not chained: SQL cannot hash
-- them the same way on both databases, and hashing them now would vouch
-- for history nothing protected. They keep chain_v 0 and no hashes, get
-- an actor kind derived from their actor and outcome success (they were
-- all successes), and stay as the chain's unchained prefix. The chain
-- starts at the first row written after them, whose prev_hash is 32 zero
-- bytes; a verification counts the unchained rows and refuses one found
-- after the chain started.
--
-- Triggers refuse UPDATE and DELETE of audit rows (and, on PostgreSQL,
-- TRUNCATE), so no bug elsewhere can rewrite history; appends serialize
-- in the store (see store.DB.AppendAudit).

ALTER TABLE audit_events ADD COLUMN actor_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN chain_v INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN prev_hash {{bytes}};
ALTER TABLE audit_events ADD COLUMN hash {{bytes}};

UPDATE audit_events SET outcome = 'success', actor_kind = CASE
	WHEN substr(actor, 1, 5) = 'node:' THEN 'node'
	WHEN actor = 'agent' THEN 'agent'
	WHEN actor = 'system' THEN 'system'
	WHEN actor = '' THEN 'anonymous'
	ELSE 'user' END;

CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_target ON audit_events (target, id);
CREATE INDEX audit_events_at ON audit_events (at, id);

-- {{if sqlite}}
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only: rows cannot be updated');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only: rows cannot be deleted');
END;
-- {{end}}

-- {{if postgres}}
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
-- {{end}}
