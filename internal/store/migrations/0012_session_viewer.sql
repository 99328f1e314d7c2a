-- The viewer's settings a pool's session was handed out with (JSON of
-- airlock.Viewer: locale, timezone, scale; '' for none): its agent,
-- started with the workspace's defaults, applies them at the hand-out.

ALTER TABLE sessions ADD COLUMN viewer TEXT NOT NULL DEFAULT '';
