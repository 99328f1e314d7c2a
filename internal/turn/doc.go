// Package turn is Airlock's embedded STUN/TURN server.
//
// Browsers reach session media through one well-known port (UDP and TCP
// 3478 by default). The caller opens the listening sockets and passes them
// to [NewServer]; this package never chooses a port itself, so tests can use
// loopback listeners on port 0.
//
// Credentials follow the TURN REST scheme (draft-uberti-behave-turn-rest):
// the username is "<unix expiry>:<session>:<user>" and the password is
// base64(HMAC-SHA1(secret, username)). Airlock's control plane mints them
// with [Credentials] or [ICEServers] and the TURN server only needs the
// shared secret to check them, so an external coturn configured with
// use-auth-secret and the same static-auth-secret can replace this server
// without any change to the control plane (coturn reads the expiry and
// ignores the rest; it then enforces neither the session's end nor the
// peer rule below, which are this server's).
//
// Credentials are bound to their session: an Allocate, CreatePermission or
// ChannelBind for a session the infra no longer reports live is refused,
// and the allocations of an ended session are closed (at once through
// [Server.EndSession], or by the periodic sweep). Allocations are counted
// per user and per session against quotas.
//
// TURN over TLS (turns:) is a stream listener the caller wraps with TLS
// and passes beside the plain TCP one: the STUN framing is the same, and it
// lets viewers through networks that let only HTTPS out (port 443). Media
// is protected end to end by DTLS-SRTP either way.
//
// What it leaves out: TURN over DTLS, IPv6 relays (pion allocates udp4 relays only),
// and TCP relay allocations (RFC 6062).
//
// SECURITY: this package turns an authenticated browser into a UDP sender
// from the TURN host. The peer rule in peer.go is what stops a user from
// relaying anywhere else than into the session networks: it denies by
// default, and loopback, link-local and metadata addresses, the host's own
// addresses and the networks' gateways stay refused whatever is
// configured. Changes there need extra review.
package turn
