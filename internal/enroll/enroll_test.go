package enroll

import (
	"errors"
	"fmt"
	"github.com/airlock-rbi/airlock/internal/apiclient"
	"net"
	"testing"
)

func TestCertRefused(t *testing.T) {
	alert := func(msg string) error {
		return fmt.Errorf("post: %w", &net.OpError{Op: "remote error", Err: errors.New(msg)})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ok/bad-certificate", alert("tls: bad certificate"), true},
		{"ok/revoked", alert("tls: revoked certificate"), true},
		{"ok/expired", alert("tls: expired certificate"), true},
		{"no/nil", nil, false},
		{"no/refused-connection", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{"no/other-alert", alert("tls: internal error"), false},
		{"no/status", &apiclient.Error{Status: 500, Message: "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := certRefused(tc.err); got != tc.want {
				t.Fatalf("certRefused(%v) = %v", tc.err, got)
			}
		})
	}
}
