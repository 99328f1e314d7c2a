package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

const groupCols = `id, name, description, priority, all_workspaces, policy, idp_groups, created_at, updated_at`

func scanGroup(s scanner) (*airlock.Group, error) {
	var g airlock.Group
	var policy, idp string
	var created, updated int64
	if err := s.Scan(&g.ID, &g.Name, &g.Description, &g.Priority, &g.AllWorkspaces, &policy, &idp, &created, &updated); err != nil {
		return nil, err
	}
	if err := unmarshalPolicy(policy, &g.Policy); err != nil {
		return nil, fmt.Errorf("group %s: %w", g.ID, err)
	}
	if idp != "" {
		if err := json.Unmarshal([]byte(idp), &g.IdPGroups); err != nil {
			return nil, fmt.Errorf("group %s: idp_groups: %w", g.ID, err)
		}
	}
	g.CreatedAt, g.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &g, nil
}

// policyJSON is the text of a policy column: empty for none set.
func policyJSON(p airlock.Policy) (string, error) {
	if p.Empty() {
		return "", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("policy: %w", err)
	}
	return string(b), nil
}

func unmarshalPolicy(text string, p *airlock.Policy) error {
	if text == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(text), p); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

// groupColumns are the values of groupCols but the ID and the times.
func groupColumns(g *airlock.Group) (policy, idp string, err error) {
	if policy, err = policyJSON(g.Policy); err != nil {
		return "", "", err
	}
	if len(g.IdPGroups) > 0 {
		b, err := json.Marshal(g.IdPGroups)
		if err != nil {
			return "", "", fmt.Errorf("idp_groups: %w", err)
		}
		idp = string(b)
	}
	return policy, idp, nil
}

// CreateGroup stores g and its grants in one transaction.
func (db *DB) CreateGroup(ctx context.Context, g *airlock.Group) error {
	policy, idp, err := groupColumns(g)
	if err != nil {
		return fmt.Errorf("create group %s: %w", g.Name, err)
	}
	db.stamp(&g.CreatedAt, &g.UpdatedAt)
	return db.inTx(ctx, "create group "+g.Name, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO user_groups (`+groupCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			g.ID, g.Name, g.Description, g.Priority, g.AllWorkspaces, policy, idp, micros(g.CreatedAt), micros(g.UpdatedAt)); err != nil {
			return writeErr(err, "group", g.Name, "insert")
		}
		return db.writeGrants(ctx, tx, g)
	})
}

// writeGrants replaces the grants of g.
func (db *DB) writeGrants(ctx context.Context, tx *sql.Tx, g *airlock.Group) error {
	if _, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM group_workspaces WHERE group_id = ?`), g.ID); err != nil {
		return fmt.Errorf("grants: %w", err)
	}
	for _, gr := range g.Grants {
		policy, err := policyJSON(gr.Policy)
		if err != nil {
			return fmt.Errorf("grant of %s: %w", gr.WorkspaceID, err)
		}
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO group_workspaces (group_id, workspace_id, policy) VALUES (?, ?, ?)`),
			g.ID, gr.WorkspaceID, policy); err != nil {
			if isForeignKey(err) {
				return notFound("workspace", gr.WorkspaceID)
			}
			return fmt.Errorf("grant of %s: %w", gr.WorkspaceID, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (db *DB) inTx(ctx context.Context, op string, fn func(*sql.Tx) error) (err error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if err := fn(tx); err != nil {
		if airlock.ErrorCode(err) != "" {
			return err
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// GroupByName returns the group of that name with its grants.
func (db *DB) GroupByName(ctx context.Context, name string) (*airlock.Group, error) {
	g, err := scanGroup(db.queryRow(ctx, `SELECT `+groupCols+` FROM user_groups WHERE name = ?`, name))
	if err != nil {
		return nil, rowErr(err, "group", name)
	}
	if err := db.fillGrants(ctx, []*airlock.Group{g}); err != nil {
		return nil, err
	}
	return g, nil
}

// ListGroups returns every group by priority, then name.
func (db *DB) ListGroups(ctx context.Context) ([]*airlock.Group, error) {
	gs, err := list(ctx, db, scanGroup, `SELECT `+groupCols+` FROM user_groups ORDER BY priority, name`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	if err := db.fillGrants(ctx, gs); err != nil {
		return nil, err
	}
	return gs, nil
}

// GroupsOfUser returns everyone and the groups the user is a member of.
func (db *DB) GroupsOfUser(ctx context.Context, userID string) ([]*airlock.Group, error) {
	gs, err := list(ctx, db, scanGroup, `SELECT `+groupCols+` FROM user_groups
		WHERE id = ? OR id IN (SELECT group_id FROM group_members WHERE user_id = ?) ORDER BY priority, name`, airlock.GroupEveryone, userID)
	if err != nil {
		return nil, fmt.Errorf("groups of user %s: %w", userID, err)
	}
	if err := db.fillGrants(ctx, gs); err != nil {
		return nil, err
	}
	return gs, nil
}

// fillGrants reads the grants of gs, by workspace name.
func (db *DB) fillGrants(ctx context.Context, gs []*airlock.Group) error {
	if len(gs) == 0 {
		return nil
	}
	byID := map[string]*airlock.Group{}
	args := make([]any, 0, len(gs))
	for _, g := range gs {
		byID[g.ID] = g
		g.Grants = nil
		args = append(args, g.ID)
	}
	rows, err := db.query(ctx, `SELECT gw.group_id, gw.workspace_id, w.name, gw.policy FROM group_workspaces gw
		JOIN workspaces w ON w.id = gw.workspace_id WHERE gw.group_id IN (`+placeholders(len(args))+`) ORDER BY w.name`, args...)
	if err != nil {
		return fmt.Errorf("grants of groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var groupID, policy string
		var gr airlock.Grant
		if err := rows.Scan(&groupID, &gr.WorkspaceID, &gr.WorkspaceName, &policy); err != nil {
			return fmt.Errorf("grants of groups: %w", err)
		}
		if err := unmarshalPolicy(policy, &gr.Policy); err != nil {
			return fmt.Errorf("group %s, workspace %s: %w", groupID, gr.WorkspaceName, err)
		}
		g := byID[groupID]
		g.Grants = append(g.Grants, gr)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("grants of groups: %w", err)
	}
	return nil
}

// UpdateGroup writes g and replaces its grants in one transaction.
func (db *DB) UpdateGroup(ctx context.Context, g *airlock.Group) error {
	policy, idp, err := groupColumns(g)
	if err != nil {
		return fmt.Errorf("update group %s: %w", g.Name, err)
	}
	db.touch(&g.UpdatedAt)
	return db.inTx(ctx, "update group "+g.Name, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.rebind(`UPDATE user_groups SET name = ?, description = ?, priority = ?, all_workspaces = ?,
			policy = ?, idp_groups = ?, updated_at = ? WHERE id = ?`),
			g.Name, g.Description, g.Priority, g.AllWorkspaces, policy, idp, micros(g.UpdatedAt), g.ID)
		if err != nil {
			return writeErr(err, "group", g.Name, "update")
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("group", g.ID)
		}
		return db.writeGrants(ctx, tx, g)
	})
}

// DeleteGroup removes a group; its grants and memberships go with it.
func (db *DB) DeleteGroup(ctx context.Context, id string) error {
	if id == airlock.GroupEveryone {
		return airlock.Errorf(airlock.ECONFLICT, "group everyone is built in: every user is a member; narrow what it grants instead")
	}
	ok, err := db.execOne(ctx, `DELETE FROM user_groups WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	if !ok {
		return notFound("group", id)
	}
	return nil
}

// refuseEveryone is the answer to a membership change of everyone.
func refuseEveryone(groupID string) error {
	if groupID == airlock.GroupEveryone {
		return airlock.Errorf(airlock.EINVALID, "every user is a member of group everyone: it takes no members by hand")
	}
	return nil
}

// AddGroupMember makes user a member of group (source local). A member
// by the identity provider becomes one by hand: it then stays when the
// claim no longer names the group.
func (db *DB) AddGroupMember(ctx context.Context, groupID, userID string, at time.Time) error {
	if err := refuseEveryone(groupID); err != nil {
		return err
	}
	_, err := db.exec(ctx, `INSERT INTO group_members (group_id, user_id, source, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (group_id, user_id) DO UPDATE SET source = excluded.source`,
		groupID, userID, airlock.MemberLocal, micros(at.UTC().Truncate(time.Microsecond)))
	if err != nil {
		if isForeignKey(err) {
			return airlock.Errorf(airlock.ENOTFOUND, "group %s or user %s does not exist", groupID, userID)
		}
		return fmt.Errorf("add user %s to group %s: %w", userID, groupID, err)
	}
	return nil
}

// RemoveGroupMember ends user's membership of group.
func (db *DB) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	if err := refuseEveryone(groupID); err != nil {
		return err
	}
	ok, err := db.execOne(ctx, `DELETE FROM group_members WHERE group_id = ? AND user_id = ?`, groupID, userID)
	if err != nil {
		return fmt.Errorf("remove user %s from group %s: %w", userID, groupID, err)
	}
	if !ok {
		return notFound("membership", userID+" of "+groupID)
	}
	return nil
}

// GroupMembers returns the members of a group by name.
func (db *DB) GroupMembers(ctx context.Context, groupID string) ([]airlock.GroupMember, error) {
	rows, err := db.query(ctx, `SELECT m.user_id, u.name, m.source, m.created_at FROM group_members m
		JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.name`, groupID)
	if err != nil {
		return nil, fmt.Errorf("members of group %s: %w", groupID, err)
	}
	defer rows.Close()
	var out []airlock.GroupMember
	for rows.Next() {
		var m airlock.GroupMember
		var since int64
		if err := rows.Scan(&m.UserID, &m.UserName, &m.Source, &since); err != nil {
			return nil, fmt.Errorf("members of group %s: %w", groupID, err)
		}
		m.Since = fromMicros(since)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members of group %s: %w", groupID, err)
	}
	return out, nil
}

// SetSSOGroups replaces the user's memberships by the identity provider
// with groupIDs, in one transaction; memberships by hand stay.
func (db *DB) SetSSOGroups(ctx context.Context, userID string, groupIDs []string, at time.Time) error {
	now := micros(at.UTC().Truncate(time.Microsecond))
	return db.inTx(ctx, "set single sign-on groups of "+userID, func(tx *sql.Tx) error {
		// Those kept keep their date: it says since when.
		q, args := `DELETE FROM group_members WHERE user_id = ? AND source = ?`, []any{userID, airlock.MemberSSO}
		if len(groupIDs) > 0 {
			q += ` AND group_id NOT IN (` + placeholders(len(groupIDs)) + `)`
			for _, id := range groupIDs {
				args = append(args, id)
			}
		}
		if _, err := tx.ExecContext(ctx, db.rebind(q), args...); err != nil {
			return err
		}
		for _, id := range groupIDs {
			if id == airlock.GroupEveryone {
				continue
			}
			if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO group_members (group_id, user_id, source, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (group_id, user_id) DO NOTHING`), id, userID, airlock.MemberSSO, now); err != nil {
				if isForeignKey(err) {
					return airlock.Errorf(airlock.ENOTFOUND, "group %s or user %s does not exist", id, userID)
				}
				return err
			}
		}
		return nil
	})
}
