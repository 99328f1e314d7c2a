// Package netpolicy is how a provision node keeps session networks apart:
// the address pool each session's own bridge network gets a small subnet
// from, the bridge device names that tell the host which networks are
// sessions' and at which isolation level, and the nftables rules on the
// host that filter what those bridges may reach.
//
// The rules live in a table of their own (inet airlock), hooked before
// Docker's iptables chains, so they are enforced outside every session's
// network namespace, whatever uid or socket a process inside it uses; a
// dockerd restart never touches them, and the node puts them back when it
// starts after a host restart. They match bridge devices by name prefix,
// so one rule set covers every session network, present and future, and a
// removed session's network leaves nothing behind.
//
// Sensitive: these rules are the network half of the isolation levels.
package netpolicy
