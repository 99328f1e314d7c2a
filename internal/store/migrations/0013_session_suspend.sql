-- Sessions kept at expiry.
--
-- Workspaces: on_expiry, what an idle or lifetime end does ('remove',
-- 'suspend'; '' takes the deployment's default), and resume_grace_ms, how
-- long a suspended session waits for its user's resume (0: the
-- deployment's default).
--
-- Sessions: resume_hash, the hash of the registration token the
-- container was created with, which a resume makes valid once more (the
-- container keeps its environment); resume_by, when a suspended session's
-- grace ends.

ALTER TABLE workspaces ADD COLUMN on_expiry TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN resume_grace_ms BIGINT NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN resume_hash {{bytes}};
ALTER TABLE sessions ADD COLUMN resume_by BIGINT;
