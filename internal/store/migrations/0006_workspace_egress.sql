-- A hardened or sandboxed workspace's egress policy, as the JSON of
-- airlock.EgressPolicy ({"rules":[...]}). '' is the empty policy (the
-- defaults: the public internet, nothing private), which every workspace
-- made before this migration keeps.

ALTER TABLE workspaces ADD COLUMN egress TEXT NOT NULL DEFAULT '';
