-- Draining is an administrator's decision, apart from liveness: a node
-- that goes down and comes back while drained must stay drained. Nodes
-- drained before this migration (state 'draining') keep their drain.

ALTER TABLE nodes ADD COLUMN draining BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE nodes SET draining = TRUE, state = 'ready' WHERE state = 'draining';
