// The api's admin routes (internal/api/server.go, access "admin"), for
// the admin pages. Each answers what the handler writes; a refusal is an
// ApiError whose message is the api's own, which the pages show verbatim.

import { request } from '../api.js';
import { auditQuery } from './format.js';

const seg = encodeURIComponent;

export const admin = {
  // [{id, name, role, max_sessions?, created_at}]
  users: (opts) => request('GET', '/users', opts),
  // body: {name, password, role, max_sessions}
  createUser: (body) => request('POST', '/users', { body }),
  deleteUser: (name) => request('DELETE', `/users/${seg(name)}`),
  // answers {web_sessions_ended}
  resetPassword: (name, password) => request('POST', `/users/${seg(name)}/password`, { body: { new: password } }),

  // A user's groups and, per workspace, whether it is granted (by which
  // groups) and each setting's value with its source:
  // {user, groups, max_sessions, workspaces: [{workspace, granted,
  //   granted_by, fields: [{name, value, source: {kind, group?, text}}]}]}
  userPolicy: (name, opts) => request('GET', `/users/${seg(name)}/policy`, opts),

  // [{id, name, description?, priority, all_workspaces?, workspaces?:
  //   [{workspace, policy?}], policy?, idp_groups?, members, built_in?,
  //   created_at, updated_at}], by priority then name.
  groups: (opts) => request('GET', '/groups', opts),
  // The same with member_list: [{user, source: local|sso, since}].
  group: (name, opts) => request('GET', `/groups/${seg(name)}`, opts),
  createGroup: (body) => request('POST', '/groups', { body }),
  // Replaces every field of the group (its members stay).
  updateGroup: (name, body) => request('PUT', `/groups/${seg(name)}`, { body }),
  deleteGroup: (name) => request('DELETE', `/groups/${seg(name)}`),
  addMember: (group, user) => request('PUT', `/groups/${seg(group)}/members/${seg(user)}`),
  removeMember: (group, user) => request('DELETE', `/groups/${seg(group)}/members/${seg(user)}`),

  // Admins see every field, env and egress included.
  workspaces: (opts) => request('GET', '/workspaces', opts),
  createWorkspace: (body) => request('POST', '/workspaces', { body }),
  // A merge: the fields body names change, the others stay.
  updateWorkspace: (name, body) => request('PATCH', `/workspaces/${seg(name)}`, { body }),
  deleteWorkspace: (name) => request('DELETE', `/workspaces/${seg(name)}`),

  // [{id, name, url, state, draining, capacity, active, isolation, labels?,
  //   cert_not_after, last_heartbeat, created_at}]
  nodes: (opts) => request('GET', '/nodes', opts),
  drainNode: (name) => request('POST', `/nodes/${seg(name)}/drain`),
  undrainNode: (name) => request('POST', `/nodes/${seg(name)}/undrain`),
  // The api refuses a node with active sessions unless force.
  deleteNode: (name, force = false) => request('DELETE', `/nodes/${seg(name)}${force ? '?force=1' : ''}`),
  // body: {ttl?, uses?, capacity?, isolation?}; the answer's token is
  // shown this once.
  createJoinToken: (body) => request('POST', '/nodes/join-tokens', { body }),
  joinTokens: (opts) => request('GET', '/nodes/join-tokens', opts),
  deleteJoinToken: (id) => request('DELETE', `/nodes/join-tokens/${seg(id)}`),

  // Everyone's sessions; active: only those not over.
  allSessions: (active, opts) => request('GET', `/sessions?all=1${active ? '&active=1' : ''}`, opts),
  endSession: (id) => request('DELETE', `/sessions/${seg(id)}`),

  // [{workspace, size, max_age?, warm, starting, nodes?, updated_at?}]
  pools: (opts) => request('GET', '/pools', opts),
  setPool: (workspace, body) => request('PUT', `/pools/${seg(workspace)}`, { body }),

  // {events: [...], next_before?}
  audit: (filter, opts) => request('GET', '/audit' + auditQuery(filter, true), opts),
  // {ok, records, unchained?, first_id?, last_id?, head?, gaps?, broken?}
  verifyAudit: () => request('POST', '/audit/verify'),
};

// exportURL is the link that downloads the events filter selects as JSON
// lines (the export takes no limit or cursor).
export const exportURL = (filter) => '/api/v1/audit/export' + auditQuery(filter, false);
