package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/airlock-rbi/airlock/internal/gateway"
)

// TestGatewayIdentity: a request the gateway verified is served as its
// identity says, without a credential of its own; one from a gateway in
// another process (no record in hand) is looked up, and a user deleted
// since is refused.
func TestGatewayIdentity(t *testing.T) {
	e := newEnv(t)
	bob, _ := e.addUser("bob", 0)
	tests := []struct {
		name   string
		id     *gateway.Identity
		status int
		user   string
	}{
		{"in process", &gateway.Identity{Kind: gateway.KindUser, UserID: e.user.ID, UserName: "alice", Role: "user", Local: e.user}, 200, "alice"},
		{"another process", &gateway.Identity{Kind: gateway.KindUser, UserID: e.user.ID, UserName: "alice", Role: "user"}, 200, "alice"},
		{"record of someone else", &gateway.Identity{Kind: gateway.KindUser, UserID: e.user.ID, Local: bob}, 200, "alice"},
		{"deleted user", &gateway.Identity{Kind: gateway.KindUser, UserID: "0123456789abcdef0123456789abcdef"}, 401, ""},
		{"no identity, no credential", nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/me", nil)
			if tt.id != nil {
				r = r.WithContext(gateway.WithIdentity(r.Context(), tt.id))
			}
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != http.StatusOK {
				return
			}
			var me struct {
				Name string `json:"name"`
			}
			mustJSON(t, rec, &me)
			if me.Name != tt.user {
				t.Errorf("served as %q, want %q", me.Name, tt.user)
			}
		})
	}
}
