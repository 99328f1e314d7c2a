package infra

import (
	"fmt"
	"maps"
	"slices"

	"github.com/airlock-rbi/airlock/internal/seccomp"
)

// SeccompProfiles are the seccomp profiles workspaces may name, by name,
// as the api sends them to nodes: "chromium" is Docker's default profile
// plus what Chromium's own sandbox needs (see internal/seccomp). A node
// runs a session under one only if its policy lists the same profile
// (seccomp_profiles, matched by content); `airlock up` writes it for its
// local node.
func SeccompProfiles() (map[string][]byte, error) {
	chromium, err := seccomp.ChromiumProfile()
	if err != nil {
		return nil, fmt.Errorf("seccomp profile chromium: %w", err)
	}
	return map[string][]byte{"chromium": chromium}, nil
}

// profileNames returns the sorted names of profiles.
func profileNames(profiles map[string][]byte) []string {
	return slices.Sorted(maps.Keys(profiles))
}
