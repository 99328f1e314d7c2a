-- The launch key a client gave with the request that made a session (''
-- when it gave none): a client whose answer was lost (a network change
-- cut it off) asks again with the same key and gets the same session,
-- not a second one. Unique per user, so two processes serving the same
-- retry at once make one session between them.

ALTER TABLE sessions ADD COLUMN launch_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX sessions_user_launch_key ON sessions (user_id, launch_key) WHERE launch_key <> '';
