-- The addresses of a session's container on its networks, comma-separated,
-- learnt by the launcher after the container started: the only peers the
-- embedded TURN server relays to for that session's viewers. Empty until
-- known (sessions made before this migration stay empty; TURN then allows
-- any address of the session networks).

ALTER TABLE sessions ADD COLUMN container_addrs TEXT NOT NULL DEFAULT '';
