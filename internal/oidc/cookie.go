package oidc

import "net/http"

// StateCookiePrefix begins the name of the cookie that keeps a login's
// sealed state. __Host- makes the browser refuse it unless it is Secure,
// has Path=/ and no Domain, so no sibling subdomain can plant or read it.
const StateCookiePrefix = "__Host-airlock-oidc-"

// StateCookieName is the name of the cookie keeping the login with this
// state. One cookie per login, named by its state, lets two logins run in
// two tabs at once, and binds the kept state to the callback's: the callback
// of another browser's login finds no cookie here.
func StateCookieName(state string) string { return StateCookiePrefix + state }

// Cookie returns the cookie that keeps l in the browser until the callback.
// SameSite=Lax, not Strict: the callback is a top-level navigation coming
// from the provider's site, which Strict would send without the cookie.
func (l *Login) Cookie() *http.Cookie {
	return &http.Cookie{
		Name:     StateCookieName(l.State),
		Value:    l.Sealed,
		Path:     "/",
		MaxAge:   l.maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// ClearStateCookie returns the cookie that deletes the kept state of the
// login with this state; set it on the callback's response, whatever Finish
// returned.
func ClearStateCookie(state string) *http.Cookie {
	return &http.Cookie{
		Name:     StateCookieName(state),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// KeptState returns the sealed state the request's cookies keep for the
// login with this state, or "" when there is none (Finish then says
// ErrStateUnknown).
func KeptState(r *http.Request, state string) string {
	if state == "" {
		return ""
	}
	c, err := r.Cookie(StateCookieName(state))
	if err != nil {
		return ""
	}
	return c.Value
}
