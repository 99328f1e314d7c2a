package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

const userCols = `id, name, role, password_hash, max_sessions, sso_issuer, sso_subject, created_at, updated_at`

func scanUser(s scanner) (*airlock.User, error) {
	var u airlock.User
	var created, updated int64
	if err := s.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &u.MaxSessions, &u.SSOIssuer, &u.SSOSubject, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

// CreateUser stores u; a zero CreatedAt or UpdatedAt is set to now.
func (db *DB) CreateUser(ctx context.Context, u *airlock.User) error {
	db.stamp(&u.CreatedAt, &u.UpdatedAt)
	if (u.SSOIssuer == "") != (u.SSOSubject == "") {
		return airlock.Errorf(airlock.EINVALID, "user %s: a single sign-on link needs both an issuer and a subject", u.Name)
	}
	_, err := db.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, string(u.Role), u.PasswordHash, u.MaxSessions, u.SSOIssuer, u.SSOSubject, micros(u.CreatedAt), micros(u.UpdatedAt))
	if err != nil && isUnique(err) && u.SSOIssuer != "" {
		if other, lerr := db.UserBySSO(ctx, u.SSOIssuer, u.SSOSubject); lerr == nil {
			return airlock.Errorf(airlock.ECONFLICT, "the account %q of %s is already linked to user %q", u.SSOSubject, u.SSOIssuer, other.Name)
		}
	}
	if err != nil {
		return writeErr(err, "user", u.Name, "create user "+u.ID)
	}
	return nil
}

// UserBySSO returns the user linked to issuer's subject.
func (db *DB) UserBySSO(ctx context.Context, issuer, subject string) (*airlock.User, error) {
	if issuer == "" || subject == "" {
		return nil, notFound("single sign-on user", issuer+" "+subject)
	}
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE sso_issuer = ? AND sso_subject = ?`, issuer, subject))
	if err != nil {
		return nil, rowErr(err, "single sign-on user", subject+" of "+issuer)
	}
	return u, nil
}

// UserByID returns the user with the given ID.
func (db *DB) UserByID(ctx context.Context, id string) (*airlock.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr(err, "user", id)
	}
	return u, nil
}

// UserByName returns the user with the given name.
func (db *DB) UserByName(ctx context.Context, name string) (*airlock.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if err != nil {
		return nil, rowErr(err, "user", name)
	}
	return u, nil
}

// ListUsers returns every user by name.
func (db *DB) ListUsers(ctx context.Context) ([]*airlock.User, error) {
	us, err := list(ctx, db, scanUser, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UpdateUser writes u's name, role, password hash, session limit and
// UpdatedAt (now if zero).
func (db *DB) UpdateUser(ctx context.Context, u *airlock.User) error {
	db.touch(&u.UpdatedAt)
	ok, err := db.execOne(ctx, `UPDATE users SET name = ?, role = ?, password_hash = ?, max_sessions = ?, updated_at = ? WHERE id = ?`,
		u.Name, string(u.Role), u.PasswordHash, u.MaxSessions, micros(u.UpdatedAt), u.ID)
	if err != nil {
		return writeErr(err, "user", u.Name, "update user "+u.ID)
	}
	if !ok {
		return notFound("user", u.ID)
	}
	return nil
}

// SetPassword replaces a user's password hash and, in the same
// transaction, ends every web session of theirs but keep (the caller's
// own when they changed it from the portal; "" keeps none): whoever
// signed in with the old password is signed out. It returns how many web
// sessions ended; ENOTFOUND if there is no such user.
func (db *DB) SetPassword(ctx context.Context, userID, hash, keep string, at time.Time) (ended []string, err error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set password of %s: %w", userID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	res, err := tx.ExecContext(ctx, db.rebind(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`),
		hash, micros(at.UTC().Truncate(time.Microsecond)), userID)
	if err != nil {
		return nil, fmt.Errorf("set password of %s: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("set password of %s: %w", userID, err)
	} else if n == 0 {
		return nil, notFound("user", userID)
	}
	rows, err := tx.QueryContext(ctx, db.rebind(`DELETE FROM web_sessions WHERE user_id = ? AND id <> ? RETURNING id`), userID, keep)
	if err != nil {
		return nil, fmt.Errorf("set password of %s: end web sessions: %w", userID, err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("set password of %s: end web sessions: %w", userID, err)
		}
		ended = append(ended, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("set password of %s: end web sessions: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set password of %s: %w", userID, err)
	}
	slices.Sort(ended)
	return ended, nil
}

// DeleteUser removes a user; the database deletes their API tokens and
// web sessions with them. Their sessions stay, as history.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	ok, err := db.execOne(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	if !ok {
		return notFound("user", id)
	}
	return nil
}

// CountUsers returns the number of users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

const tokenCols = `id, user_id, name, hash, created_at, expires_at, last_used_at, revoked_at`

func scanToken(s scanner) (*airlock.APIToken, error) {
	var t airlock.APIToken
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := s.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = ptrFromNullMicros(expires), ptrFromNullMicros(used), ptrFromNullMicros(revoked)
	return &t, nil
}

// CreateAPIToken stores t; a zero CreatedAt is set to now. ENOTFOUND if
// its user does not exist.
func (db *DB) CreateAPIToken(ctx context.Context, t *airlock.APIToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Microsecond)
	_, err := db.exec(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserID, t.Name, t.Hash, micros(t.CreatedAt),
		ptrMicros(t.ExpiresAt), ptrMicros(t.LastUsedAt), ptrMicros(t.RevokedAt))
	if isForeignKey(err) {
		return notFound("user", t.UserID)
	}
	if err != nil {
		return writeErr(err, "API token", t.ID, "create API token "+t.ID)
	}
	return nil
}

// APITokenByID returns the token with the given ID, revoked or expired
// ones included: the caller checks Active.
func (db *DB) APITokenByID(ctx context.Context, id string) (*airlock.APIToken, error) {
	t, err := scanToken(db.queryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr(err, "API token", id)
	}
	return t, nil
}

// ListAPITokens returns the tokens of one user, oldest first. An empty
// userID matches no one, not everyone.
func (db *DB) ListAPITokens(ctx context.Context, userID string) ([]*airlock.APIToken, error) {
	ts, err := list(ctx, db, scanToken, `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list API tokens of %s: %w", userID, err)
	}
	return ts, nil
}

// RevokeAPIToken marks a token revoked at at. Revoking it again keeps the
// first time.
func (db *DB) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	ok, err := db.execOne(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, micros(at), id)
	if err != nil {
		return fmt.Errorf("revoke API token %s: %w", id, err)
	}
	if !ok {
		return notFound("API token", id)
	}
	return nil
}

// TouchAPIToken records that a token was used at at.
func (db *DB) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	ok, err := db.execOne(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, micros(at), id)
	if err != nil {
		return fmt.Errorf("touch API token %s: %w", id, err)
	}
	if !ok {
		return notFound("API token", id)
	}
	return nil
}

const webSessionCols = `id, user_id, hash, created_at, expires_at, sso_id_token`

func scanWebSession(s scanner) (*airlock.WebSession, error) {
	var w airlock.WebSession
	var created, expires int64
	if err := s.Scan(&w.ID, &w.UserID, &w.Hash, &created, &expires, &w.SSOIDToken); err != nil {
		return nil, err
	}
	w.CreatedAt, w.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &w, nil
}

// CreateWebSession stores s; a zero CreatedAt is set to now. ENOTFOUND if
// its user does not exist.
func (db *DB) CreateWebSession(ctx context.Context, s *airlock.WebSession) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = db.now()
	}
	s.CreatedAt = s.CreatedAt.UTC().Truncate(time.Microsecond)
	_, err := db.exec(ctx, `INSERT INTO web_sessions (`+webSessionCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.Hash, micros(s.CreatedAt), micros(s.ExpiresAt), s.SSOIDToken)
	if isForeignKey(err) {
		return notFound("user", s.UserID)
	}
	if err != nil {
		return writeErr(err, "web session", s.ID, "create web session "+s.ID)
	}
	return nil
}

// WebSessionByID returns a web session, expired or not: the caller checks
// ExpiresAt.
func (db *DB) WebSessionByID(ctx context.Context, id string) (*airlock.WebSession, error) {
	s, err := scanWebSession(db.queryRow(ctx, `SELECT `+webSessionCols+` FROM web_sessions WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr(err, "web session", id)
	}
	return s, nil
}

// DeleteWebSession removes a web session (signing out).
func (db *DB) DeleteWebSession(ctx context.Context, id string) error {
	ok, err := db.execOne(ctx, `DELETE FROM web_sessions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete web session %s: %w", id, err)
	}
	if !ok {
		return notFound("web session", id)
	}
	return nil
}

// DeleteExpiredWebSessions removes the web sessions that expired at or
// before now and returns how many.
func (db *DB) DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := db.exec(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired web sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired web sessions: %w", err)
	}
	return int(n), nil
}
