package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST / coturn use-auth-secret mandate HMAC-SHA1.
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Errors returned when checking a TURN REST username. They are logged by the
// server, never sent to the client: STUN only carries 401.
var (
	ErrBadUsername = errors.New("turn: username is not <unix expiry>:<session>:<user>")
	ErrExpired     = errors.New("turn: credentials expired")
)

// Credentials returns TURN REST credentials for user in session, valid
// for ttl from now: username "<unix expiry>:<session>:<user>", password
// base64(HMAC-SHA1(secret, username)). This is coturn's use-auth-secret
// algorithm (coturn reads only the timestamp before the first colon), so
// the same credentials work against an external coturn sharing the
// secret; the embedded server also reads the session, to refuse
// allocations once it has ended and to count quotas.
//
// session must not contain a colon (Airlock's IDs are hex); user may.
func Credentials(secret []byte, session, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + session + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // hash.Hash.Write never returns an error.
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// restUser is what a TURN REST username names.
type restUser struct {
	Expiry  int64
	Session string
	User    string
}

// parseUsername parses a TURN REST username as Credentials makes it.
// Unlike pion's LongTermTURNRESTAuthHandler it insists on non-empty
// session and user parts: a username without them is not one Airlock
// ever issues, and unknown means no.
func parseUsername(username string) (restUser, error) {
	parts := strings.SplitN(username, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return restUser{}, ErrBadUsername
	}
	expiry, err := strconv.ParseInt(parts[0], 10, 64)
	// Canonical digits only ("+5", "007" are not what Credentials writes).
	if err != nil || expiry < 0 || strconv.FormatInt(expiry, 10) != parts[0] {
		return restUser{}, ErrBadUsername
	}
	return restUser{Expiry: expiry, Session: parts[1], User: parts[2]}, nil
}

// checkUsername parses a TURN REST username and reports whether it is still
// valid at now. An expiry equal to now is still valid, matching coturn.
func checkUsername(username string, now time.Time) (restUser, error) {
	u, err := parseUsername(username)
	if err != nil {
		return u, err
	}
	if u.Expiry < now.Unix() {
		return u, fmt.Errorf("%w at %d", ErrExpired, u.Expiry)
	}
	return u, nil
}

// ICEServer is one entry of RTCConfiguration.iceServers as a browser expects
// it in JSON.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// STUNServer is the STUN entry alone (binding requests need no
// credentials), for a client that gets no relay of its own.
func STUNServer(host string, port int) ICEServer {
	return ICEServer{URLs: []string{"stun:" + net.JoinHostPort(host, strconv.Itoa(port))}}
}

// ICEServers returns what a viewer's connect answer gives a browser: a STUN
// entry and a TURN entry with UDP and TCP transports on host:port,
// carrying fresh credentials for user in session valid for ttl. TCP is
// listed so browsers behind UDP-blocking firewalls still get through on
// the same port.
func ICEServers(host string, port int, secret []byte, session, user string, ttl time.Duration, now time.Time) []ICEServer {
	return ICEServersTLS(host, port, "", 0, secret, session, user, ttl, now)
}

// ICEServersTLS is ICEServers with TURN over TLS as well when tlsPort is
// not 0: a turns: URL on tlsHost:tlsPort (tlsHost must be a name or
// address the server's certificate holds; host when empty), for networks
// that let only HTTPS out.
func ICEServersTLS(host string, port int, tlsHost string, tlsPort int, secret []byte, session, user string, ttl time.Duration, now time.Time) []ICEServer {
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	username, password := Credentials(secret, session, user, ttl, now)
	urls := []string{
		"turn:" + hp + "?transport=udp",
		"turn:" + hp + "?transport=tcp",
	}
	if tlsPort != 0 {
		if tlsHost == "" {
			tlsHost = host
		}
		urls = append(urls, "turns:"+net.JoinHostPort(tlsHost, strconv.Itoa(tlsPort))+"?transport=tcp")
	}
	return []ICEServer{
		STUNServer(host, port),
		{URLs: urls, Username: username, Credential: password},
	}
}
