package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// userView is a user as clients see it.
type userView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	MaxSessions int       `json:"max_sessions,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewUser(u *airlock.User) userView {
	return userView{ID: u.ID, Name: u.Name, Role: string(u.Role), MaxSessions: u.MaxSessions, CreatedAt: u.CreatedAt}
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// Token asks for an API token (the CLI) instead of a cookie (a browser).
	Token     bool   `json:"token,omitempty"`
	TokenName string `json:"token_name,omitempty"`
}

type loginResponse struct {
	User  userView `json:"user"`
	Token string   `json:"token,omitempty"`
}

// errBadLogin does not say which of the two was wrong.
var errBadLogin = airlock.Errorf(airlock.EUNAUTHORIZED, "user name or password is wrong")

// login checks a password. Guesses are throttled per client address and
// per account (429 with Retry-After), and the hash runs in one of the
// bounded slots (503 with Retry-After when none frees up in time).
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	body := &limitedBody{rc: r.Body, left: maxLoginBody}
	r.Body = body
	if err := decode(r, &req); err != nil {
		if body.over {
			return airlock.Errorf(airlock.EINVALID, "request body is larger than %d KiB, the limit of a sign-in", maxLoginBody>>10)
		}
		return err
	}
	if req.User == "" || req.Password == "" {
		return airlock.Errorf(airlock.EINVALID, "user and password are required")
	}
	attempt, refused := s.guesses.Begin(clientAddr(r), req.User)
	if refused != nil {
		s.loginFailed(r.Context(), req.User, "throttled")
		return throttled(w, refused)
	}
	pri := auth.Normal
	if attempt.Clean() {
		// An address that has not been failing goes ahead of those that
		// have, so a guessing crowd does not queue a real user out.
		pri = auth.Urgent
	}
	ctx := r.Context()
	u, err := s.store.UserByName(ctx, req.User)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND {
		// Spend the same time as a real check, so timing does not reveal
		// which names exist.
		if _, err := s.hasher.Verify(ctx, pri, req.Password, s.dummy); err != nil {
			attempt.Abandon()
			return s.hashBusy(w, err)
		}
		attempt.Failed()
		s.loginFailed(ctx, req.User, "unknown user")
		return errBadLogin
	}
	if err != nil {
		attempt.Abandon()
		return err
	}
	// A user made by single sign-on has no password: the check runs
	// against the dummy hash, so it fails in the time a real one takes.
	hash, why := u.PasswordHash, "wrong password"
	if hash == "" {
		hash, why = s.dummy, "no password: a single sign-on user"
	}
	ok, err := s.hasher.Verify(ctx, pri, req.Password, hash)
	if err != nil {
		attempt.Abandon()
		return s.hashBusy(w, err)
	}
	if !ok || u.PasswordHash == "" {
		attempt.Failed()
		s.loginFailed(ctx, req.User, why)
		return errBadLogin
	}
	attempt.Succeeded()
	if req.Token {
		name := req.TokenName
		if name == "" {
			name = "cli"
		}
		if err := airlock.ValidName("token", name); err != nil {
			return err
		}
		tok, err := s.issueAPIToken(r.Context(), u, name, nil)
		if err != nil {
			return err
		}
		s.audit(ctx, u.Name, "auth.login", u.Name, "api token "+name)
		writeJSON(w, http.StatusOK, loginResponse{User: viewUser(u), Token: tok})
		return nil
	}
	if err := s.startWebSession(ctx, w, u, ""); err != nil {
		return err
	}
	s.audit(ctx, u.Name, "auth.login", u.Name, "web")
	writeJSON(w, http.StatusOK, loginResponse{User: viewUser(u)})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context())
	var idToken string
	if c.Web {
		if ws, err := s.store.WebSessionByID(r.Context(), c.TokenID); err == nil {
			idToken = ws.SSOIDToken
		}
		if err := s.store.DeleteWebSession(r.Context(), c.TokenID); err != nil {
			return err
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	} else if err := s.store.RevokeAPIToken(r.Context(), c.TokenID, s.clock.now()); err != nil {
		return err
	}
	s.revoker.RevokeGrant(c.TokenID)
	s.audit(r.Context(), c.User.Name, "auth.logout", c.User.Name, "")
	// A browser signed in at the identity provider is sent there to sign
	// out as well (RP-initiated logout), and comes back to the portal.
	if sso := s.sso.Load(); idToken != "" && sso != nil && c.User.SSOIssuer != "" {
		if u, err := sso.Provider.LogoutURL(idToken, sso.PostLogoutURL); err == nil {
			writeJSON(w, http.StatusOK, logoutView{LogoutURL: u})
			return nil
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type logoutView struct {
	// LogoutURL is where the browser goes to sign out at the identity
	// provider too.
	LogoutURL string `json:"logout_url"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, viewUser(callerOf(r.Context()).User))
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]userView, 0, len(users))
	for _, u := range users {
		out = append(out, viewUser(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type createUserRequest struct {
	Name        string `json:"name"`
	Password    string `json:"password"`
	Role        string `json:"role"`
	MaxSessions int    `json:"max_sessions"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := s.CreateUser(r.Context(), req.Name, req.Password, airlock.Role(req.Role), req.MaxSessions)
	if err != nil {
		return s.hashBusy(w, err)
	}
	s.audit(r.Context(), callerOf(r.Context()).User.Name, "user.create", u.Name, "role="+string(u.Role))
	writeJSON(w, http.StatusCreated, viewUser(u))
	return nil
}

// CreateUser validates and stores a user (role "" means user); `airlock
// up` uses it for the first admin.
func (s *Server) CreateUser(ctx context.Context, name, password string, role airlock.Role, maxSessions int) (*airlock.User, error) {
	if err := airlock.ValidName("user", name); err != nil {
		return nil, err
	}
	if name == "me" {
		return nil, airlock.Errorf(airlock.EINVALID, "user name \"me\" is reserved: /api/v1/users/me names the caller")
	}
	if role == "" {
		role = airlock.RoleUser
	}
	if !role.Valid() {
		return nil, airlock.Errorf(airlock.EINVALID, "role %q is not admin or user", role)
	}
	if maxSessions < 0 || maxSessions > 1000 {
		return nil, airlock.Errorf(airlock.EINVALID, "max_sessions must be between 0 (server default) and 1000")
	}
	hash, err := s.hashPassword(ctx, password)
	if errors.Is(err, auth.ErrWeakPassword) {
		return nil, airlock.Errorf(airlock.EINVALID, "password: %v", err)
	}
	if errors.Is(err, auth.ErrHashBusy) {
		return nil, s.hashBusy(nil, err)
	}
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	now := s.clock.now()
	u := &airlock.User{ID: newID(), Name: name, Role: role, PasswordHash: hash, MaxSessions: maxSessions, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.store.UserByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	if u.ID == callerOf(ctx).User.ID {
		return airlock.Errorf(airlock.ECONFLICT, "you cannot delete yourself")
	}
	n, err := s.store.CountSessions(ctx, airlock.SessionFilter{UserID: u.ID, States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	if n > 0 {
		return airlock.Errorf(airlock.ECONFLICT, "user %q has %d active sessions; remove them first", u.Name, n)
	}
	if err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	s.revoker.RevokeUser(u.ID)
	s.audit(ctx, callerOf(ctx).User.Name, "user.delete", u.Name, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
