-- The labels a node must carry to run a workspace's sessions, as a JSON
-- object ('' for none: any node).

ALTER TABLE workspaces ADD COLUMN node_labels TEXT NOT NULL DEFAULT '';
