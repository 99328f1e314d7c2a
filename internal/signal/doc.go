// Package signal is Airlock's WebRTC signaling relay: a WebSocket endpoint
// where one session's viewer (a browser) and its agent (in the session
// container) meet to exchange SDP offers and answers, ICE candidates and
// control messages.
//
// The relay holds no database connection. A peer proves who it is with a
// short-lived connect token, signed by the api and verified here by
// signature alone (see auth.Signer); the token names the session and the
// peer's role. It comes in the URL's query, or as the first message of a
// socket opened without one (so that a browser can open the socket while
// it still asks for the token). Per session there is at most one viewer and one agent; a
// newer connection of either role replaces the older one, so a page reload
// gets a new stream without a new container.
//
// Revocation does not wait for a token to expire: the api tells the relay
// (RevokeSession, RevokeUser, RevokeGrant) when a session ends, a user is
// deleted or a sign-in ends, and the relay closes the matching peers at
// once with 4403 and refuses their tokens (tokens carry the session, the
// user and the sign-in they were minted under) until every token minted
// before has expired.
//
// The relay is built to hold many idle peers: an idle connection has no
// goroutine, only its socket in an epoll set (poller) and its TLS and
// relay state, about 9 KiB. When the socket is readable a read pass
// handles every whole frame the connection holds and parks it again (see
// conn.read for why nothing can be left behind in a buffer). The
// WebSocket framing is gobwas/ws's, which leaves the buffers to the
// caller; clients use any library.
//
// What it leaves out: it does not look inside SDP or candidates (they are
// relayed verbatim, with the sender's role added), it keeps no history
// (a message for an absent peer is dropped and the sender told), and it
// does not scale across processes: both peers of a session must reach the
// same relay.
//
// Security-sensitive: token checks, close codes and limits here are the
// only thing between the Internet and an agent's signaling channel; review
// changes with care.
package signal
