-- Join tokens become records of their own: each expires, has a number of
-- uses, and caps what a node enrolled with it may advertise (its capacity,
-- its isolation levels as a JSON list). Until now one rotating secret,
-- valid for ever and for any number of nodes, lived in settings; it is
-- dropped, so a token printed before this migration no longer enrolls.

CREATE TABLE join_tokens (
    id           TEXT PRIMARY KEY,
    secret_hash  {{bytes}} NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    uses         INTEGER NOT NULL CHECK (uses > 0),
    uses_left    INTEGER NOT NULL CHECK (uses_left >= 0 AND uses_left <= uses),
    max_capacity INTEGER NOT NULL CHECK (max_capacity > 0),
    isolation    TEXT NOT NULL
);

DELETE FROM settings WHERE name = 'join_secret_hash';
