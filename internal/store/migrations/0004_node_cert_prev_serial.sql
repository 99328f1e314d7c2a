-- The serial of a node's certificate before its last renewal. The
-- launcher accepts only a node's certificates on record, and a node keeps
-- serving its previous certificate until it has written the renewed one,
-- so both are on record. Nodes enrolled before this migration have none.

ALTER TABLE nodes ADD COLUMN cert_prev_serial TEXT NOT NULL DEFAULT '';
