package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Identity is who logged in, as the provider's ID token says.
type Identity struct {
	// Issuer and Subject together name the user for good: match a user on
	// these, never on Email, which the provider may let people change.
	Issuer  string
	Subject string
	// Email and EmailVerified come from the email and email_verified claims;
	// Email is empty when the provider sent none.
	Email         string
	EmailVerified bool
	// Name and PreferredUsername come from the name and preferred_username
	// claims; either may be empty.
	Name              string
	PreferredUsername string
	// Groups are the names in the groups claim (Config.GroupsClaim), in the
	// provider's order, duplicates removed. Meaningful only when
	// GroupsPresent.
	Groups []string
	// GroupsPresent tells an ID token without the groups claim (false) from
	// one with an empty list (true, Groups empty). The difference matters:
	// absent means the provider did not say (the scope was not granted, the
	// claim is not mapped, or it went to a distributed source), so the
	// caller keeps the user's groups as they were; present and empty means
	// the user is in no group, so the caller removes them all.
	GroupsPresent bool
}

// Limits on the groups claim. Airlock's own group names are short; a claim
// past these is a misconfigured mapping (every directory group sent) rather
// than something to store.
const (
	maxGroups       = 1000
	maxGroupNameLen = 256
)

// parseGroups reads the groups claim's raw JSON value. present is false
// when raw is absent (nil), JSON null or the empty string: OIDC Core 5.3.2
// says a claim not returned SHOULD be omitted rather than null or "", so
// those three mean "not returned", not "in no group". A JSON array of
// strings is the groups, in order, duplicates removed; a single string is
// one group (some providers send that for a user in one group). Anything
// else (a number, an object, an array with a non-string, an empty name, a
// name that is not UTF-8 or is too long, too many names) is an error
// wrapping ErrClaims naming what was wrong.
func parseGroups(claim string, raw json.RawMessage) (groups []string, present bool, err error) {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, fmt.Errorf("%w: claim %q is not a valid JSON string: %w", ErrClaims, claim, err)
		}
		if s == "" {
			return nil, false, nil
		}
		if err := checkGroupName(claim, 0, s); err != nil {
			return nil, false, err
		}
		return []string{s}, true, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, false, fmt.Errorf("%w: claim %q is not a valid JSON array: %w", ErrClaims, claim, err)
		}
		if len(items) > maxGroups {
			return nil, false, fmt.Errorf("%w: claim %q has %d groups, more than %d", ErrClaims, claim, len(items), maxGroups)
		}
		groups = make([]string, 0, len(items))
		seen := make(map[string]bool, len(items))
		for i, item := range items {
			item = trimJSONSpace(item)
			if len(item) == 0 || item[0] != '"' {
				return nil, false, fmt.Errorf("%w: claim %q element %d is %s, not a string", ErrClaims, claim, i, jsonKind(item))
			}
			var s string
			if err := json.Unmarshal(item, &s); err != nil {
				return nil, false, fmt.Errorf("%w: claim %q element %d: %w", ErrClaims, claim, i, err)
			}
			if err := checkGroupName(claim, i, s); err != nil {
				return nil, false, err
			}
			if !seen[s] {
				seen[s] = true
				groups = append(groups, s)
			}
		}
		return groups, true, nil
	default:
		return nil, false, fmt.Errorf("%w: claim %q is %s; want an array of strings or a string", ErrClaims, claim, jsonKind(raw))
	}
}

func checkGroupName(claim string, i int, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: claim %q element %d is an empty name", ErrClaims, claim, i)
	case len(s) > maxGroupNameLen:
		return fmt.Errorf("%w: claim %q element %d is %d bytes, more than %d", ErrClaims, claim, i, len(s), maxGroupNameLen)
	case !utf8.ValidString(s):
		// encoding/json replaces bad UTF-8 with U+FFFD, so this is a guard
		// for callers that decode otherwise.
		return fmt.Errorf("%w: claim %q element %d is not UTF-8", ErrClaims, claim, i)
	}
	return nil
}

// jsonKind names the kind of a JSON value for error messages, without
// repeating the value.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// standardClaims are the ID token claims Identity takes besides groups.
type standardClaims struct {
	Email             json.RawMessage `json:"email"`
	EmailVerified     json.RawMessage `json:"email_verified"`
	Name              json.RawMessage `json:"name"`
	PreferredUsername json.RawMessage `json:"preferred_username"`
	// ClaimNames lists claims the provider moved to another source
	// (OIDC Core 5.6.2, distributed and aggregated claims).
	ClaimNames map[string]json.RawMessage `json:"_claim_names"`
}

// identityClaims fills the claim fields of id from the ID token's payload.
// It returns whether the groups claim was moved to another source, which
// Airlock does not fetch.
func identityClaims(payload []byte, groupsClaim string, id *Identity) (distributedGroups bool, err error) {
	var sc standardClaims
	if err := json.Unmarshal(payload, &sc); err != nil {
		return false, fmt.Errorf("%w: the ID token's claims are not a JSON object: %w", ErrClaims, err)
	}
	if id.Email, err = stringClaim("email", sc.Email); err != nil {
		return false, err
	}
	if id.EmailVerified, err = boolClaim("email_verified", sc.EmailVerified); err != nil {
		return false, err
	}
	if id.Name, err = stringClaim("name", sc.Name); err != nil {
		return false, err
	}
	if id.PreferredUsername, err = stringClaim("preferred_username", sc.PreferredUsername); err != nil {
		return false, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(payload, &all); err != nil {
		return false, fmt.Errorf("%w: the ID token's claims are not a JSON object: %w", ErrClaims, err)
	}
	id.Groups, id.GroupsPresent, err = parseGroups(groupsClaim, all[groupsClaim])
	if err != nil {
		return false, err
	}
	_, distributedGroups = sc.ClaimNames[groupsClaim]
	return distributedGroups && !id.GroupsPresent, nil
}

// stringClaim reads an optional string claim: absent or null is "".
func stringClaim(name string, raw json.RawMessage) (string, error) {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%w: claim %q is %s, not a string", ErrClaims, name, jsonKind(raw))
	}
	return s, nil
}

// boolClaim reads an optional boolean claim: absent or null is false. The
// strings "true" and "false" are taken too, as some providers (AWS Cognito)
// send email_verified so; anything else is an error, since an
// email_verified we cannot read must not count as verified.
func boolClaim(name string, raw json.RawMessage) (bool, error) {
	raw = trimJSONSpace(raw)
	switch string(raw) {
	case "", "null", "false", `"false"`:
		return false, nil
	case "true", `"true"`:
		return true, nil
	}
	return false, fmt.Errorf("%w: claim %q is %s, not a boolean", ErrClaims, name, jsonKind(raw))
}

// trimJSONSpace trims JSON's whitespace (RFC 8259: space, tab, CR, LF), not
// Unicode's: bytes.TrimSpace would take a form feed for space and so accept
// a value encoding/json refuses.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }
