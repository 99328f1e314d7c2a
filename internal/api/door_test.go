package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// loginFrom signs in as user from the TCP peer remote, with extra headers.
func (e *env) loginFrom(remote, user, password string, hdr map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"user": user, "password": password, "token": true})
	r := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = remote
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	return rec
}

// retryAfter is the Retry-After of a refusal in seconds, failing the test
// when it is missing or not a positive number.
func retryAfter(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	n, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("status %d with Retry-After %q; want a positive number of seconds", rec.Code, rec.Header().Get("Retry-After"))
	}
	return n
}

// TestLoginGuessingThrottled is the online-guessing case: 40 wrong
// passwords for admin in a row. Some must be refused with 429 and
// Retry-After; the per-account wait never passes the cap; and once the
// backoff has run out (on the injected clock) the right password works.
func TestLoginGuessingThrottled(t *testing.T) {
	for _, tc := range []struct {
		name string
		// remote gives the n-th guess's TCP peer.
		remote func(n int) string
		hdr    map[string]string
	}{
		{"one address", func(int) string { return "192.0.2.7:5555" }, nil},
		{"one IPv6 /64, many hosts", func(n int) string { return fmt.Sprintf("[2001:db8:1:2::%x]:443", n+1) }, nil},
		{"many addresses, one account", func(n int) string { return fmt.Sprintf("198.51.100.%d:1000", n+1) }, nil},
		// A proxy header is the client's own word: it changes nothing.
		{"forwarded-for ignored", func(int) string { return "192.0.2.8:5555" }, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var refused, wrong int
			for n := range 40 {
				hdr := tc.hdr
				if hdr != nil {
					// A new invented origin on every try.
					hdr = map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", n)}
				}
				rec := e.loginFrom(tc.remote(n), "admin", "wrong-password", hdr)
				switch rec.Code {
				case http.StatusUnauthorized:
					wrong++
				case http.StatusTooManyRequests:
					refused++
					eb := wantError(t, rec, "limit", "too many failed sign-ins", "retry in")
					if s := retryAfter(t, rec); s > 60 {
						t.Fatalf("Retry-After %d s: the throttle must not lock an account for more than a minute (%s)", s, eb.Message)
					}
				default:
					t.Fatalf("guess %d: status %d %s", n+1, rec.Code, rec.Body)
				}
			}
			if refused == 0 {
				t.Fatalf("40 wrong passwords for admin, %d answered 401 and none refused", wrong)
			}
			if wrong > 20 {
				t.Errorf("%d of 40 guesses were checked; want at most the free ones and those after each wait", wrong)
			}
			// The real user, right now, is slowed down too ...
			if rec := e.loginFrom("192.0.2.200:1", "admin", adminPassword, nil); rec.Code != http.StatusTooManyRequests {
				t.Errorf("the right password during the backoff: %d %s; want 429", rec.Code, rec.Body)
			}
			// ... but once the capped backoff is over, gets in.
			e.clk.Advance(61 * time.Second)
			if rec := e.loginFrom(tc.remote(0), "admin", adminPassword, nil); rec.Code != http.StatusOK {
				t.Fatalf("the right password after the backoff: %d %s", rec.Code, rec.Body)
			}
			// And the success cleared the account's backoff.
			if rec := e.loginFrom(tc.remote(1), "admin", adminPassword, nil); rec.Code != http.StatusOK {
				t.Fatalf("a second sign-in after a success: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestLoginUnknownUsersThrottled: guesses at names that do not exist
// count against the address like any other, and are answered like them.
func TestLoginUnknownUsersThrottled(t *testing.T) {
	e := newEnv(t)
	refused := 0
	for n := range 40 {
		rec := e.loginFrom("192.0.2.9:1", fmt.Sprintf("nobody%d", n), "some-password", nil)
		if rec.Code == http.StatusTooManyRequests {
			refused++
			wantError(t, rec, "limit", "from your address")
			retryAfter(t, rec)
		} else if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
	if refused == 0 {
		t.Fatal("40 failed sign-ins from one address, none refused")
	}
	// Another address is not affected.
	if rec := e.loginFrom("192.0.2.10:1", "alice", userPassword, nil); rec.Code != http.StatusOK {
		t.Fatalf("sign-in from another address: %d %s", rec.Code, rec.Body)
	}
}

// TestPasswordHashBusy: with every hash slot taken, sign-ins (of real and
// unknown users) and user creation wait briefly and then answer 503 with
// Retry-After. A busy answer costs the client's address a token (see
// throttle.Attempt.Abandon) but is not a failed guess at the account.
func TestPasswordHashBusy(t *testing.T) {
	hasher := auth.NewPasswordHasher(1, 20*time.Millisecond)
	e := newEnv(t, func(o *Options) { o.Hasher = hasher })
	release, err := hasher.Acquire(context.Background(), auth.Urgent)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func(n int) *httptest.ResponseRecorder
	}{
		{"sign-in", func(n int) *httptest.ResponseRecorder {
			return e.loginFrom(fmt.Sprintf("192.0.2.%d:1", n+1), "alice", userPassword, nil)
		}},
		{"unknown user", func(n int) *httptest.ResponseRecorder {
			return e.loginFrom(fmt.Sprintf("192.0.2.%d:1", n+1), "nobody", "password-1", nil)
		}},
		{"password change", func(int) *httptest.ResponseRecorder {
			return e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: e.userTok,
				Body: map[string]any{"current": userPassword, "new": "alice-new-password"}})
		}},
		{"password reset", func(int) *httptest.ResponseRecorder {
			return e.do(req{Method: "POST", Path: "/api/v1/users/alice/password", Bearer: e.adminTok,
				Body: map[string]any{"new": "alice-new-password"}})
		}},
		{"create user", func(int) *httptest.ResponseRecorder {
			return e.do(req{Method: "POST", Path: "/api/v1/users", Bearer: e.adminTok,
				Body: map[string]any{"name": "bob", "password": "bob-password-1"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := range 10 {
				rec := tc.do(n)
				wantError(t, rec, "unavailable", "too many passwords at once", "retry")
				retryAfter(t, rec)
			}
		})
	}
	release()
	// Ten busy answers for alice were not ten failed guesses: she gets in.
	if rec := e.loginFrom("198.51.100.1:1", "alice", userPassword, nil); rec.Code != http.StatusOK {
		t.Fatalf("sign-in once a slot is free: %d %s", rec.Code, rec.Body)
	}
}

// TestPasswordChangeThrottled: the current password asked for by a
// password change is an oracle for whoever holds a stolen session, so it
// is throttled like a sign-in.
func TestPasswordChangeThrottled(t *testing.T) {
	e := newEnv(t)
	refused := 0
	for range 40 {
		rec := e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: e.userTok,
			Body: map[string]any{"current": "a-guess-at-it", "new": "alice-new-password"}})
		switch rec.Code {
		case http.StatusForbidden:
		case http.StatusTooManyRequests:
			refused++
			wantError(t, rec, "limit", "too many failed sign-ins")
			retryAfter(t, rec)
		default:
			t.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
	if refused == 0 {
		t.Fatal("40 wrong current passwords, none refused")
	}
	e.clk.Advance(61 * time.Second)
	rec := e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: e.userTok,
		Body: map[string]any{"current": userPassword, "new": "alice-new-password"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("the right current password after the backoff: %d %s", rec.Code, rec.Body)
	}
}

func TestLoginBodyLimit(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{Method: "POST", Path: "/api/v1/auth/login",
		Body: `{"user":"alice","password":"` + strings.Repeat("x", maxLoginBody) + `"}`})
	wantError(t, rec, "invalid", "larger than 16 KiB")
}
