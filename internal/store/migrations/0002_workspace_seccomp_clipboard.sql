-- A workspace's seccomp profile, by the name the deployment knows it by
-- ('' is Docker's default profile), and its clipboard policy (off,
-- to-container, from-container or both). Workspaces made before this
-- migration keep Docker's default profile and get the default policy,
-- both (airlock.DefaultClipboard).

ALTER TABLE workspaces ADD COLUMN seccomp TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN clipboard TEXT NOT NULL DEFAULT 'both';
