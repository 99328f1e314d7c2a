package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

const nodeCols = `id, name, url, capacity, isolation, labels, state, cert_serial, cert_not_after, last_heartbeat, created_at, updated_at, cert_prev_serial, draining`

func scanNode(s scanner) (*airlock.Node, error) {
	var n airlock.Node
	var isolation, labels string
	var notAfter, heartbeat sql.NullInt64
	var created, updated int64
	if err := s.Scan(&n.ID, &n.Name, &n.URL, &n.Capacity, &isolation, &labels, &n.State,
		&n.CertSerial, &notAfter, &heartbeat, &created, &updated, &n.CertPrevSerial, &n.Draining); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(isolation), &n.Isolation); err != nil {
		return nil, fmt.Errorf("node %s: isolation: %w", n.ID, err)
	}
	if err := json.Unmarshal([]byte(labels), &n.Labels); err != nil {
		return nil, fmt.Errorf("node %s: labels: %w", n.ID, err)
	}
	n.CertNotAfter, n.LastHeartbeat = fromNullMicros(notAfter), fromNullMicros(heartbeat)
	n.CreatedAt, n.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &n, nil
}

// nodeJSON encodes a node's list and map fields.
func nodeJSON(n *airlock.Node) (isolation, labels string, err error) {
	i, err := json.Marshal(n.Isolation)
	if err != nil {
		return "", "", fmt.Errorf("isolation: %w", err)
	}
	l, err := json.Marshal(n.Labels)
	if err != nil {
		return "", "", fmt.Errorf("labels: %w", err)
	}
	return string(i), string(l), nil
}

// CreateNode stores n; a zero CreatedAt or UpdatedAt is set to now.
func (db *DB) CreateNode(ctx context.Context, n *airlock.Node) error {
	isolation, labels, err := nodeJSON(n)
	if err != nil {
		return fmt.Errorf("create node %s: %w", n.ID, err)
	}
	db.stamp(&n.CreatedAt, &n.UpdatedAt)
	return db.insertNode(ctx, db.db, n, isolation, labels)
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// insertNode is the INSERT of CreateNode, on the database or within a
// transaction.
func (db *DB) insertNode(ctx context.Context, ex execer, n *airlock.Node, isolation, labels string) error {
	_, err := ex.ExecContext(ctx, db.rebind(`INSERT INTO nodes (`+nodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		n.ID, n.Name, n.URL, n.Capacity, isolation, labels, string(n.State), n.CertSerial,
		nullMicros(n.CertNotAfter), nullMicros(n.LastHeartbeat), micros(n.CreatedAt), micros(n.UpdatedAt), n.CertPrevSerial, n.Draining)
	if err != nil {
		return writeErr(err, "node", n.Name, "create node "+n.ID)
	}
	return nil
}

// NodeByID returns the node with the given ID.
func (db *DB) NodeByID(ctx context.Context, id string) (*airlock.Node, error) {
	n, err := scanNode(db.queryRow(ctx, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr(err, "node", id)
	}
	return n, nil
}

// NodeByName returns the node with the given name.
func (db *DB) NodeByName(ctx context.Context, name string) (*airlock.Node, error) {
	n, err := scanNode(db.queryRow(ctx, `SELECT `+nodeCols+` FROM nodes WHERE name = ?`, name))
	if err != nil {
		return nil, rowErr(err, "node", name)
	}
	return n, nil
}

// ListNodes returns every node by name.
func (db *DB) ListNodes(ctx context.Context) ([]*airlock.Node, error) {
	ns, err := list(ctx, db, scanNode, `SELECT `+nodeCols+` FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return ns, nil
}

// UpdateNode writes every field of n but ID, CreatedAt and Draining
// (SetNodeDraining's); a zero UpdatedAt is set to now.
func (db *DB) UpdateNode(ctx context.Context, n *airlock.Node) error {
	isolation, labels, err := nodeJSON(n)
	if err != nil {
		return fmt.Errorf("update node %s: %w", n.ID, err)
	}
	db.touch(&n.UpdatedAt)
	ok, err := db.execOne(ctx, `UPDATE nodes SET name = ?, url = ?, capacity = ?, isolation = ?, labels = ?, state = ?,
		cert_serial = ?, cert_not_after = ?, last_heartbeat = ?, updated_at = ?, cert_prev_serial = ? WHERE id = ?`,
		n.Name, n.URL, n.Capacity, isolation, labels, string(n.State), n.CertSerial,
		nullMicros(n.CertNotAfter), nullMicros(n.LastHeartbeat), micros(n.UpdatedAt), n.CertPrevSerial, n.ID)
	if err != nil {
		return writeErr(err, "node", n.Name, "update node "+n.ID)
	}
	if !ok {
		return notFound("node", n.ID)
	}
	return nil
}

// DeleteNode removes a node. It does not revoke its certificate: the
// caller does that with RevokeCert. Sessions on it stay, as history.
func (db *DB) DeleteNode(ctx context.Context, id string) error {
	ok, err := db.execOne(ctx, `DELETE FROM nodes WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete node %s: %w", id, err)
	}
	if !ok {
		return notFound("node", id)
	}
	return nil
}

// RevokeCert records serial as revoked until notAfter. Revoking a serial
// again keeps the later notAfter: a revocation is never shortened.
func (db *DB) RevokeCert(ctx context.Context, serial string, notAfter time.Time) error {
	if serial == "" {
		return airlock.Errorf(airlock.EINVALID, "certificate serial is empty")
	}
	_, err := db.exec(ctx, `INSERT INTO revoked_certs (serial, not_after) VALUES (?, ?)
		ON CONFLICT (serial) DO UPDATE SET not_after = CASE
			WHEN excluded.not_after > revoked_certs.not_after THEN excluded.not_after
			ELSE revoked_certs.not_after END`, serial, micros(notAfter))
	if err != nil {
		return fmt.Errorf("revoke certificate %s: %w", serial, err)
	}
	return nil
}

// IsCertRevoked reports whether serial was revoked, however long ago: a
// record past its notAfter still says revoked.
func (db *DB) IsCertRevoked(ctx context.Context, serial string) (bool, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM revoked_certs WHERE serial = ?`, serial).Scan(&n); err != nil {
		return true, fmt.Errorf("check certificate %s: %w", serial, err)
	}
	return n > 0, nil
}

// ListRevokedCerts returns the revoked serials whose certificates have not
// expired at now, in serial order.
func (db *DB) ListRevokedCerts(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := db.query(ctx, `SELECT serial FROM revoked_certs WHERE not_after > ? ORDER BY serial`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list revoked certificates: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	return out, nil
}

// NodeAnswered sets the node's last heartbeat to at and puts a down node
// back to ready; it writes no other field.
func (db *DB) NodeAnswered(ctx context.Context, id string, at time.Time) error {
	ok, err := db.execOne(ctx, `UPDATE nodes SET last_heartbeat = ?, updated_at = ?,
		state = CASE WHEN state = ? THEN ? ELSE state END WHERE id = ?`,
		micros(at), micros(at), string(airlock.NodeDown), string(airlock.NodeReady), id)
	if err != nil {
		return fmt.Errorf("record node %s answered: %w", id, err)
	}
	if !ok {
		return notFound("node", id)
	}
	return nil
}

// NodeSilent marks the node down unless it is down already or was heard
// from after lastHeard; it reports whether it did. It writes no other
// field.
func (db *DB) NodeSilent(ctx context.Context, id string, lastHeard, now time.Time) (bool, error) {
	ok, err := db.execOne(ctx, `UPDATE nodes SET state = ?, updated_at = ?
		WHERE id = ? AND state <> ? AND (last_heartbeat IS NULL OR last_heartbeat <= ?)`,
		string(airlock.NodeDown), micros(now), id, string(airlock.NodeDown), micros(lastHeard))
	if err != nil {
		return false, fmt.Errorf("mark node %s down: %w", id, err)
	}
	return ok, nil
}

// SetNodeDraining drains the node (draining) or puts it back into
// service, and returns it as stored.
func (db *DB) SetNodeDraining(ctx context.Context, id string, draining bool, now time.Time) (*airlock.Node, error) {
	n, err := scanNode(db.queryRow(ctx, `UPDATE nodes SET draining = ?, updated_at = ? WHERE id = ? RETURNING `+nodeCols,
		draining, micros(now), id))
	if err != nil {
		return nil, rowErr(err, "node", id)
	}
	return n, nil
}
