-- Groups: sets of users that grant workspaces and carry a policy for
-- their sessions.
--
-- user_groups.policy and group_workspaces.policy are the JSON of an
-- airlock.Policy ('' for none set): the group's rule for all the
-- workspaces it grants, and its rule for one. all_workspaces grants
-- every workspace, present and future. idp_groups is a JSON list of the
-- names in a single sign-on groups claim that make a user a member.
--
-- group_members.source is how a user became one: 'local' (an
-- administrator) or 'sso' (the groups claim at sign-in, replaced at
-- each). The built-in group everyone has no member rows: every user is
-- one. It grants every workspace, as the deployment did before groups.
--
-- sessions.policy is what the user's groups set for the session when it
-- was launched.

CREATE TABLE user_groups (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	priority       INTEGER NOT NULL DEFAULT 0,
	all_workspaces BOOLEAN NOT NULL DEFAULT FALSE,
	policy         TEXT NOT NULL DEFAULT '',
	idp_groups     TEXT NOT NULL DEFAULT '',
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);

CREATE TABLE group_workspaces (
	group_id     TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	policy       TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (group_id, workspace_id)
);
CREATE INDEX group_workspaces_workspace ON group_workspaces (workspace_id);

CREATE TABLE group_members (
	group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	source     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

INSERT INTO user_groups (id, name, description, priority, all_workspaces, created_at, updated_at)
	VALUES ('everyone', 'everyone', 'Every user.', 1000000, TRUE, 0, 0);

ALTER TABLE sessions ADD COLUMN policy TEXT NOT NULL DEFAULT '';
