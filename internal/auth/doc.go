// Package auth holds the credential primitives of Airlock's infra server:
// password hashing, the opaque bearer secrets handed to people and machines,
// the join tokens that enroll nodes, and the HMAC-signed short-lived tokens
// that other services verify without a database.
//
// Every secret this package mints is meant to be stored only as a hash:
// passwords as argon2id PHC strings (HashPassword), bearer tokens as a
// SHA-256 digest keyed by a clear lookup ID (Token.Hash), join tokens as the
// digest of their secret (JoinToken.SecretHash). Parsers are strict and fail
// closed, and their errors never repeat the secret they were given, so they
// are safe to log.
//
// What it leaves out: there is no HTTP here (cookies, headers and status
// codes belong to the server), no database (callers store the hashes and
// look tokens up by ID), and no policy about who may hold which credential.
// Nothing in the package keeps mutable state; time is injected where it
// matters (NewSigner) so tests do not sleep.
//
// This is security-sensitive code: changes to formats, comparisons or limits
// deserve a second reviewer.
package auth
