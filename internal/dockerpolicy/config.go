package dockerpolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// Config is what one provision node allows. A file with only `images:` is
// valid: every other field has a safe default, stated on the field.
type Config struct {
	// Images are the image references containers may be created from. Each
	// is resolved to an image ID when a request is judged, so a retagged
	// image is judged by what it is now.
	Images []string `yaml:"images"`
	// Runtimes are the OCI runtimes a container may name, compared exactly.
	// Default: runc. A request that names none gets the daemon's default.
	Runtimes []string `yaml:"runtimes"`
	// Capabilities are the only ones a container may add back after the
	// node drops all of them. Default: DefaultCapabilities.
	Capabilities []string `yaml:"capabilities"`
	// SeccompProfiles are files holding the only custom seccomp profiles a
	// container may use, matched by content (the Docker API carries the
	// profile's JSON, not its name). Relative paths are relative to the
	// config file. Default: none; Docker's default profile is always allowed.
	SeccompProfiles []string `yaml:"seccomp_profiles"`
	// Defaults are the limits given to a container whose request has none.
	Defaults Defaults `yaml:"defaults"`
	// SessionPool is the IPv4 range session networks get their subnets
	// from. Default netpolicy.DefaultPool (10.213.0.0/16).
	SessionPool string `yaml:"session_pool"`
	// SessionSubnetBits is the prefix length of one session's subnet.
	// Default 28: 4096 sessions in a /16.
	SessionSubnetBits int `yaml:"session_subnet_bits"`
	// SandboxRuntime is the runtime a sandboxed session must run under.
	// Default runsc.
	SandboxRuntime string `yaml:"sandbox_runtime"`
	// ProxyPort is the node's egress proxy port (0: none); the node, not
	// the file, sets it. Hardened session networks carry its address.
	ProxyPort uint16 `yaml:"-"`

	pool *netpolicy.Pool

	// seccomp maps a canonical profile to the file it came from.
	seccomp map[string]string
	// caps is Capabilities normalized ("CAP_" + upper case).
	caps map[string]bool
}

// Defaults are the resource floor of every container.
type Defaults struct {
	// Memory is the memory limit of a container that sets none. Default 512m.
	Memory string `yaml:"memory"`
	// MaxMemory is the largest memory limit a request may set. Default 16g.
	MaxMemory string `yaml:"max_memory"`
	// PidsLimit is the pids limit of a container that sets none. Default 512.
	PidsLimit int64 `yaml:"pids_limit"`
	// MaxPidsLimit is the largest pids limit a request may set. Default 4096.
	MaxPidsLimit int64 `yaml:"max_pids_limit"`

	memory, maxMemory int64
}

// DefaultCapabilities is a short list that lets a process change to its
// own non-root user and manage its own files, and nothing that reaches the
// kernel or the network stack beyond that.
var DefaultCapabilities = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"}

// LoadConfig reads a YAML config file. Unknown keys are errors, so a typo
// cannot silently leave a default in place.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read provision config: %w", err)
	}
	cfg, err := ParseConfig(raw, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("provision config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses YAML; relative seccomp profile paths are taken from dir.
func ParseConfig(raw []byte, dir string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	for i, p := range cfg.SeccompProfiles {
		if !filepath.IsAbs(p) {
			cfg.SeccompProfiles[i] = filepath.Join(dir, p)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate fills defaults, normalizes names and loads the seccomp profiles.
// It is idempotent.
func (c *Config) Validate() error {
	if len(c.Images) == 0 {
		return errors.New("images: at least one allowed image is required")
	}
	for _, img := range c.Images {
		if strings.TrimSpace(img) == "" || strings.ContainsAny(img, " \t\n") {
			return fmt.Errorf("images: %q is not an image reference", img)
		}
	}
	if len(c.Runtimes) == 0 {
		c.Runtimes = []string{"runc"}
	}
	if c.Capabilities == nil {
		c.Capabilities = DefaultCapabilities
	}
	c.caps = map[string]bool{}
	for _, cp := range c.Capabilities {
		n := normalizeCap(cp)
		if n == "CAP_ALL" {
			return errors.New("capabilities: ALL cannot be allowed")
		}
		if !capName.MatchString(n) {
			return fmt.Errorf("capabilities: %q is not a capability name", cp)
		}
		c.caps[n] = true
	}
	c.seccomp = map[string]string{}
	for _, p := range c.SeccompProfiles {
		raw, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("seccomp_profiles: %w", err)
		}
		canon, err := canonicalJSON(raw)
		if err != nil {
			return fmt.Errorf("seccomp_profiles: %s is not JSON: %w", p, err)
		}
		c.seccomp[canon] = p
	}
	pool := netpolicy.DefaultPool
	if c.SessionPool != "" {
		p, err := netip.ParsePrefix(c.SessionPool)
		if err != nil {
			return fmt.Errorf("session_pool: %q is not a prefix such as %s", c.SessionPool, netpolicy.DefaultPool)
		}
		pool = p
	}
	if c.SessionSubnetBits == 0 {
		c.SessionSubnetBits = netpolicy.DefaultSubnetBits
	}
	var err error
	if c.pool, err = netpolicy.NewPool(pool, c.SessionSubnetBits); err != nil {
		return fmt.Errorf("session_pool: %w", err)
	}
	if c.SandboxRuntime == "" {
		c.SandboxRuntime = "runsc"
	}
	d := &c.Defaults
	if d.memory, err = sizeOr(d.Memory, "512m", "defaults.memory"); err != nil {
		return err
	}
	if d.maxMemory, err = sizeOr(d.MaxMemory, "16g", "defaults.max_memory"); err != nil {
		return err
	}
	if d.memory > d.maxMemory {
		return fmt.Errorf("defaults.memory %s is above defaults.max_memory %s", d.Memory, d.MaxMemory)
	}
	if d.PidsLimit == 0 {
		d.PidsLimit = 512
	}
	if d.MaxPidsLimit == 0 {
		d.MaxPidsLimit = 4096
	}
	if d.PidsLimit < 0 || d.MaxPidsLimit < 0 || d.PidsLimit > d.MaxPidsLimit {
		return fmt.Errorf("defaults.pids_limit %d must be positive and at most defaults.max_pids_limit %d", d.PidsLimit, d.MaxPidsLimit)
	}
	return nil
}

func sizeOr(v, def, field string) (int64, error) {
	if v == "" {
		v = def
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q is not a size such as 512m", field, v)
	}
	return n, nil
}

// canonicalJSON re-encodes a JSON document with sorted keys and no spaces,
// so two encodings of the same profile compare equal.
func canonicalJSON(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if dec.More() {
		return "", errors.New("trailing data after the JSON document")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// Pool is the session address pool (after Validate).
func (c *Config) Pool() *netpolicy.Pool { return c.pool }
