// Package egress enforces a hardened session's egress policy
// (airlock.EgressPolicy) on the node: Policy is the decision, Proxy the
// HTTP proxy sessions reach the network through, and DNS the resolver
// their DNS queries are redirected to.
//
// Both identify a session by the source address of its packets (Sessions),
// which the node's per-session networks make unforgeable, and both refuse
// what they cannot attribute.
//
// Both count into the same metrics when given the same
// prometheus.Registerer: each registers its collectors, and finding them
// already registered (prometheus.AlreadyRegisteredError) uses the existing
// ones, so NewProxy and NewDNS can be called in either order, each once
// per Registerer.
//
// The proxy is built on net/http rather than on stripe/smokescreen.
// Smokescreen's ACL is a set of per-role domain globs (allow list, global
// deny list) with IP allow and deny ranges that are global to the proxy;
// an Airlock policy is an ordered list per workspace mixing domain and CIDR
// rules, each with its own ports, where the first match decides, and a
// per-session always-denied set. Expressing that would mean replacing
// smokescreen's ACL and address checks, which is most of it, while still
// taking its logrus and statsd dependencies.
package egress
