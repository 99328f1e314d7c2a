// Package turn is Airlock's embedded STUN/TURN server.
//
// Browsers reach session media through one well-known port (UDP and TCP
// 3478 by default). The caller opens the listening sockets and passes them
// to [NewServer]; this package never chooses a port itself, so tests can use
// loopback listeners on port 0.
//
// Credentials follow the TURN REST scheme (draft-uberti-behave-turn-rest):
// the username is "<unix expiry>:<user>" and the password is
// base64(HMAC-SHA1(secret, username)). Airlock's control plane mints them
// with [Credentials] or [ICEServers] and the TURN server only needs the
// shared secret to check them, so an external coturn configured with
// use-auth-secret and the same static-auth-secret can replace this server
// without any change to the control plane.
//
// What it leaves out: TURNS (TURN over TLS/DTLS; media is already protected
// end to end by DTLS-SRTP), IPv6 relays (pion allocates udp4 relays only),
// TCP relay allocations (RFC 6062), and per-user quotas.
//
// SECURITY: this package turns an authenticated browser into a UDP sender
// from the TURN host. The peer filter in peer.go is what stops a user from
// relaying into the host's loopback or link-local services (cloud metadata
// endpoints live at 169.254.169.254); changes there need extra review.
package turn
