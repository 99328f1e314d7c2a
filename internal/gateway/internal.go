package gateway

import (
	"net/http"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// Internal serves h on an internal listener of a split deployment. The
// listener's TLS configuration (pki.ServerTLSConfig with the roles that
// call this service) has refused at the handshake every peer without a
// certificate of this deployment's CA carrying one of them. Internal then
// takes the Airlock-Identity header only from the gateway: a peer service
// (cron calling the api, say) speaks for itself, and its header, like a
// client's, is dropped.
//
// A request the gateway forwards looks to h as it did to the gateway: its
// client's address in RemoteAddr and its client's verified certificate,
// if any, in TLS (the gateway's own is not the caller's).
func Internal(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get(IdentityHeader)
		r.Header.Del(IdentityHeader)
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			r.Header.Del(ClientAddrHeader)
			r.Header.Del(ClientCertHeader)
			writeRefusal(w, &Refusal{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "an internal listener serves only peers with a verified certificate of this deployment"})
			return
		}
		if role, err := pki.RoleOf(r.TLS.VerifiedChains[0][0]); err != nil || role != pki.RoleGateway {
			// A peer service speaks for itself.
			r.Header.Del(ClientAddrHeader)
			r.Header.Del(ClientCertHeader)
			h.ServeHTTP(w, r)
			return
		}
		r, err := takeClient(r)
		if err != nil {
			writeRefusal(w, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Message: err.Error()})
			return
		}
		if v != "" {
			id, err := DecodeIdentity(v)
			if err != nil {
				writeRefusal(w, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Message: err.Error()})
				return
			}
			r = r.WithContext(WithIdentity(r.Context(), id))
		}
		h.ServeHTTP(w, r)
	})
}

// PeerRole is the role of the verified peer of a request on an internal
// listener; ok is false when there is none.
func PeerRole(r *http.Request) (pki.Role, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", false
	}
	role, err := pki.RoleOf(r.TLS.VerifiedChains[0][0])
	return role, err == nil
}
