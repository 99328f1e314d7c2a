-- A workspace's browser options: how Chromium is shown (mode: browser or
-- kiosk), its policy (browser: the JSON of airlock.BrowserPolicy, '' for
-- the zero policy: no downloads, uploads, devtools or printing), audio (on
-- or off), a fixed locale and time zone ('' for the viewer's) and the
-- largest device scale factor (max_scale). Workspaces made before this
-- migration get a normal browser window with sound, the viewer's locale
-- and time zone, and up to twice the pixels.

ALTER TABLE workspaces ADD COLUMN mode TEXT NOT NULL DEFAULT 'browser';
ALTER TABLE workspaces ADD COLUMN browser TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN audio TEXT NOT NULL DEFAULT 'on';
ALTER TABLE workspaces ADD COLUMN locale TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN max_scale DOUBLE PRECISION NOT NULL DEFAULT 2;
