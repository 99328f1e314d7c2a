package infra

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/oidc"
)

// SSOConfig is single sign-on through one OpenID Connect provider.
type SSOConfig struct {
	// Issuer is the provider's issuer URL; empty: no single sign-on.
	Issuer string
	// ClientID and ClientSecretFile (a file holding the secret; empty
	// for a public client) are Airlock's registration at the provider.
	ClientID, ClientSecretFile string
	// PublicURL is this server as browsers reach it (https://host:port):
	// the provider sends them back to PublicURL/api/v1/auth/sso/callback,
	// which must be registered there.
	PublicURL string
	// Name is what the sign-in page calls the provider. Default "single
	// sign-on".
	Name string
	// Scopes beside openid. Default email, profile, groups.
	Scopes []string
	// GroupsClaim names the ID token's groups claim (default "groups");
	// RequireGroups refuses a login without it.
	GroupsClaim   string
	RequireGroups bool
	// AdminGroups: a member of one is an admin.
	AdminGroups []string
	// CAFile, if set, is the PEM CA the provider's certificate chains to
	// (a private one); default the system's roots.
	CAFile string
}

// ssoStateKeyFile holds the key that seals logins in flight, so that a
// restart does not break them.
const ssoStateKeyFile = "sso-state-key"

type ssoStarter struct {
	cfg oidc.Config
	sso api.SSO
	log *slog.Logger
}

// newSSO checks cfg and prepares the provider's configuration; the
// provider itself is discovered by run.
func newSSO(data string, c SSOConfig, st airlock.Settings, log *slog.Logger) (*ssoStarter, error) {
	if c.ClientID == "" {
		return nil, errors.New("single sign-on: --sso-client-id is required with --sso-issuer")
	}
	pu, err := url.Parse(c.PublicURL)
	if err != nil || pu.Scheme != "https" || pu.Host == "" || (pu.Path != "" && pu.Path != "/") {
		return nil, fmt.Errorf("single sign-on: --public-url %q must be this server's https://host[:port], as browsers reach it (the provider sends them back there)", c.PublicURL)
	}
	var secret string
	if c.ClientSecretFile != "" {
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("single sign-on: client secret: %w", err)
		}
		if secret = strings.TrimSpace(string(b)); secret == "" {
			return nil, fmt.Errorf("single sign-on: client secret file %s is empty", c.ClientSecretFile)
		}
	}
	var roots *x509.CertPool
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("single sign-on: provider CA: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("single sign-on: %s holds no PEM certificate", c.CAFile)
		}
	}
	key, err := loadOrMakeKey(filepath.Join(data, ssoStateKeyFile), oidc.StateKeySize)
	if err != nil {
		return nil, fmt.Errorf("single sign-on: %w", err)
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{"email", "profile", "groups"}
	}
	if c.Name == "" {
		c.Name = "single sign-on"
	}
	return &ssoStarter{
		cfg: oidc.Config{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: secret,
			RedirectURL: strings.TrimSuffix(c.PublicURL, "/") + "/api/v1/auth/sso/callback",
			Scopes:      append([]string{"openid"}, scopes...), GroupsClaim: c.GroupsClaim, RequireGroups: c.RequireGroups, StateKey: key, RootCAs: roots,
			Spent: storeSpent{st}},
		sso: api.SSO{Name: c.Name, AdminGroups: c.AdminGroups, PostLogoutURL: strings.TrimSuffix(c.PublicURL, "/") + "/"},
		log: log,
	}, nil
}

// run discovers the provider and turns single sign-on on; while the
// provider does not answer it tries again, and local sign-in works.
func (s *ssoStarter) run(ctx context.Context, a *api.Server) {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		p, err := oidc.New(dctx, s.cfg)
		cancel()
		if err == nil {
			sso := s.sso
			sso.Provider = p
			a.SetSSO(&sso)
			s.log.Info("single sign-on is on", "issuer", s.cfg.Issuer, "redirect", s.cfg.RedirectURL)
			return
		}
		if errors.Is(err, oidc.ErrConfig) {
			s.log.Error("single sign-on stays off: its configuration is refused", "err", err)
			return
		}
		s.log.Warn("single sign-on not yet on: the provider did not answer; trying again", "issuer", s.cfg.Issuer, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// loadOrMakeKey reads a key file of n bytes, making it (mode 0600) on
// first start.
func loadOrMakeKey(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != n {
			return nil, fmt.Errorf("%s holds %d bytes, want %d: remove it to make a new one (logins in flight then fail once)", path, len(b), n)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// storeSpent is the record of used login states on the store: every api
// process on it, and one restarted, refuses a replayed state.
type storeSpent struct{ st airlock.Settings }

func (s storeSpent) Spend(ctx context.Context, id string, expires time.Time) error {
	err := s.st.SpendOnce(ctx, "sso-state:"+id, expires, airlock.Now())
	if airlock.ErrorCode(err) == airlock.ECONFLICT {
		return oidc.ErrStateReplayed
	}
	return err
}
