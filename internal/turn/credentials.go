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
	ErrBadUsername = errors.New("turn: username is not <unix expiry>:<user>")
	ErrExpired     = errors.New("turn: credentials expired")
)

// Credentials returns TURN REST credentials for user valid for ttl from now:
// username "<unix expiry>:<user>", password base64(HMAC-SHA1(secret,
// username)). This is coturn's use-auth-secret algorithm, so the same
// credentials work against an external coturn sharing the secret.
func Credentials(secret []byte, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // hash.Hash.Write never returns an error.
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// checkUsername parses a TURN REST username and reports whether it is still
// valid at now. An expiry equal to now is still valid, matching coturn.
// Unlike pion's LongTermTURNRESTAuthHandler it insists on a non-empty user
// part: a bare timestamp is not a username Airlock ever issues, and unknown
// means no.
func checkUsername(username string, now time.Time) error {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || user == "" || ts == "" {
		return ErrBadUsername
	}
	expiry, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || expiry < 0 {
		return ErrBadUsername
	}
	if expiry < now.Unix() {
		return fmt.Errorf("%w at %d", ErrExpired, expiry)
	}
	return nil
}

// ICEServer is one entry of RTCConfiguration.iceServers as a browser expects
// it in JSON.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServers returns what a connect answer gives a browser: a STUN entry
// (without credentials; binding requests need none) and a TURN entry with UDP
// and TCP transports on host:port, carrying fresh credentials for user valid
// for ttl. TCP is listed so browsers behind UDP-blocking firewalls still get
// through on the same port.
func ICEServers(host string, port int, secret []byte, user string, ttl time.Duration, now time.Time) []ICEServer {
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	username, password := Credentials(secret, user, ttl, now)
	return []ICEServer{
		{URLs: []string{"stun:" + hp}},
		{
			URLs: []string{
				"turn:" + hp + "?transport=udp",
				"turn:" + hp + "?transport=tcp",
			},
			Username:   username,
			Credential: password,
		},
	}
}
