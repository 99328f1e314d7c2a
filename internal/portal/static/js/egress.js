// Egress policies as the portal shows them: one line per rule, in the
// short form `airlock workspace --allow/--deny` takes, in the policy's
// order (the first rule that matches decides). Pure functions, for the
// workspace cards and the unit tests.

// ruleText is one rule: "allow *.example.com:443,8443",
// "deny 10.0.0.0/8", "allow [2001:db8::/32]:443" (an IPv6 target with
// ports is bracketed, as its colons would be read as one).
export function ruleText(rule) {
  let target = rule.domain || rule.cidr || '?';
  const ports = Array.isArray(rule.ports) && rule.ports.length ? rule.ports.join(',') : '';
  if (ports && !rule.domain && target.includes(':')) target = `[${target}]`;
  return `${rule.action} ${target}${ports ? ':' + ports : ''}`;
}

// egressSummary is the one-line label of a workspace's policy, or null
// when the caller is shown none (a standard workspace, or a user who is
// not an admin: the api gives the rules to admins only).
export function egressSummary(egress) {
  if (!egress || !Array.isArray(egress.rules)) return null;
  const n = egress.rules.length;
  if (n === 0) return 'Egress: defaults (public internet only)';
  return `Egress: ${n} rule${n === 1 ? '' : 's'}`;
}
