-- Users made by single sign-on.
--
-- sso_issuer and sso_subject are the identity provider's issuer URL and
-- the user's subject there: the only link between an OpenID Connect
-- login and an Airlock user (names and e-mail addresses can be reused
-- or changed at the provider; the pair cannot). Empty for local users,
-- which the partial index leaves out, so any number of them may exist.

ALTER TABLE users ADD COLUMN sso_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN sso_subject TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_sso ON users (sso_issuer, sso_subject) WHERE sso_issuer <> '';

-- The ID token of a web session begun by single sign-on: the hint the
-- provider wants in order to sign the browser out there too.
ALTER TABLE web_sessions ADD COLUMN sso_id_token TEXT NOT NULL DEFAULT '';
