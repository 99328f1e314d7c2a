-- The scheduler counts the active sessions of every node in one query
-- (WHERE state IN (...) GROUP BY node_id): with the node in the state's
-- index, it reads only the active sessions' index entries, not every
-- session's row.

DROP INDEX sessions_state;
CREATE INDEX sessions_state ON sessions (state, node_id);
