package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// maxBrowserFile bounds a browser policy file: the whole Chromium policy
// a session gets is at most airlock.MaxChromiumPolicySize.
const maxBrowserFile = airlock.MaxChromiumPolicySize

// ReadBrowserFile reads a workspace's browser policy, as YAML or JSON in
// the form of the API's browser field, for `airlock workspace
// --browser-file`:
//
//	url_blocklist: ["*"]
//	url_allowlist: [intranet.example.com]
//	downloads: {allowed: true, max_bytes: 104857600}
//	policies: {BookmarkBarEnabled: true}
func ReadBrowserFile(path string) (airlock.BrowserPolicy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return airlock.BrowserPolicy{}, fmt.Errorf("browser file: %w", err)
	}
	p, err := ParseBrowserFile(raw)
	if err != nil {
		return airlock.BrowserPolicy{}, fmt.Errorf("browser file %s: %w", path, err)
	}
	return p, nil
}

// ParseBrowserFile is ReadBrowserFile on the file's contents.
func ParseBrowserFile(raw []byte) (airlock.BrowserPolicy, error) {
	var p airlock.BrowserPolicy
	if len(raw) > maxBrowserFile {
		return p, fmt.Errorf("%d bytes; a browser policy is at most %d", len(raw), maxBrowserFile)
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return airlock.BrowserPolicy{}, fmt.Errorf("not a browser policy in JSON: %v", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return airlock.BrowserPolicy{}, errors.New("data after the JSON object")
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
			hint := ""
			if bytes.Contains(raw, []byte("- *")) || bytes.Contains(raw, []byte("[*")) {
				hint = `; a value starting with * is a YAML alias: quote URL patterns like "*"`
			}
			return airlock.BrowserPolicy{}, fmt.Errorf("not a browser policy in YAML or JSON: %v%s", err, hint)
		}
	}
	if err := p.Validate(); err != nil {
		return airlock.BrowserPolicy{}, errors.New(airlock.ErrorMessage(err))
	}
	return p, nil
}

// ParseTransfer parses `--downloads` and `--uploads`: off, on (the
// default limit), or a size such as 100m (on, files up to that size).
func ParseTransfer(s string) (airlock.Transfer, error) {
	switch strings.ToLower(s) {
	case "off":
		return airlock.Transfer{}, nil
	case "on":
		return airlock.Transfer{Allowed: true}, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return airlock.Transfer{}, fmt.Errorf("%q is not off, on or a size such as 100m", s)
	}
	return airlock.Transfer{Allowed: true, MaxBytes: n}, nil
}

// ParseSwitch parses an on|off flag value.
func ParseSwitch(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", s)
}
