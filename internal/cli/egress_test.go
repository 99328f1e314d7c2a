package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

func TestParseEgressRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want airlock.EgressRule // Action is set by the test
		err  string             // non-empty: a part of the refusal
	}{
		{in: "*.example.com", want: airlock.EgressRule{Domain: "*.example.com"}},
		{in: "example.com:443,8443", want: airlock.EgressRule{Domain: "example.com", Ports: []uint16{443, 8443}}},
		{in: "*", want: airlock.EgressRule{Domain: "*"}},
		{in: "*:25", want: airlock.EgressRule{Domain: "*", Ports: []uint16{25}}},
		{in: "10.0.0.0/8", want: airlock.EgressRule{CIDR: "10.0.0.0/8"}},
		{in: "10.0.0.0/8:22", want: airlock.EgressRule{CIDR: "10.0.0.0/8", Ports: []uint16{22}}},
		{in: "192.0.2.7", want: airlock.EgressRule{CIDR: "192.0.2.7"}},
		{in: "192.0.2.7:80,443", want: airlock.EgressRule{CIDR: "192.0.2.7", Ports: []uint16{80, 443}}},
		{in: "2001:db8::/32", want: airlock.EgressRule{CIDR: "2001:db8::/32"}},
		{in: "2001:db8::1", want: airlock.EgressRule{CIDR: "2001:db8::1"}},
		{in: "[2001:db8::/32]:443", want: airlock.EgressRule{CIDR: "2001:db8::/32", Ports: []uint16{443}}},
		{in: "[2001:db8::1]", want: airlock.EgressRule{CIDR: "2001:db8::1"}},
		{in: "[example.com]:443", want: airlock.EgressRule{Domain: "example.com", Ports: []uint16{443}}},
		{in: "65535.example:65535", want: airlock.EgressRule{Domain: "65535.example", Ports: []uint16{65535}}},

		{in: "", err: "empty rule"},
		{in: " example.com", err: "has spaces"},
		{in: "example.com:443, 8443", err: "has spaces"},
		{in: "example.com:", err: "lists no port"},
		{in: "example.com:0", err: `port "0" is not a number from 1 to 65535`},
		{in: "example.com:65536", err: `port "65536" is not a number from 1 to 65535`},
		{in: "example.com:+443", err: `port "+443"`},
		{in: "example.com:https", err: `port "https"`},
		{in: "example.com:443,,8443", err: "empty port"},
		{in: "example.com:443,", err: "empty port"},
		{in: "example.com:8000-8100", err: "port ranges (8000-8100) are not supported"},
		{in: "example.com:443,443", err: "port 443 is listed twice"},
		{in: ":443", err: "no domain or CIDR"},
		{in: "https://example.com", err: "is a URL"},
		{in: "2001:db8::/32:443", err: "in brackets"},
		{in: "[2001:db8::/32", err: "without closing"},
		{in: "[2001:db8::/32]443", err: "after ] comes :PORTS"},
		{in: "10.1.2.3/8", err: "did you mean 10.0.0.0/8"},
		{in: "10.0.0.0/33", err: "not a prefix"},
		{in: "10.0.0", err: `cidr "10.0.0" is not a prefix or an address`},
		{in: "fe80::1%eth0", err: "zone"},
		{in: "Example.com", err: "lowercase"},
		{in: "a.*.example", err: "wildcard"},
		{in: "example.com.", err: "trailing dot"},
		{in: "a_b.example", err: "character '_'"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseEgressRule(airlock.EgressDeny, tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseEgressRule(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				if tc.in != "" && !strings.Contains(err.Error(), tc.in) && !strings.Contains(err.Error(), "has spaces") {
					t.Errorf("the refusal %q does not quote the rule", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEgressRule(%q): %v", tc.in, err)
			}
			tc.want.Action = airlock.EgressDeny
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseEgressRule(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseEgressFile(t *testing.T) {
	want := []airlock.EgressRule{
		{Action: airlock.EgressAllow, Domain: "*.example.com", Ports: []uint16{443}},
		{Action: airlock.EgressDeny, CIDR: "10.0.0.0/8"},
	}
	for _, tc := range []struct {
		name, in string
		want     []airlock.EgressRule
		err      string
	}{
		{name: "ok/yaml", in: "rules:\n  - action: allow\n    domain: \"*.example.com\"\n    ports: [443]\n  - action: deny\n    cidr: 10.0.0.0/8\n", want: want},
		{name: "ok/json", in: `  {"rules":[{"action":"allow","domain":"*.example.com","ports":[443]},{"action":"deny","cidr":"10.0.0.0/8"}]}` + "\n", want: want},
		{name: "ok/yaml-flow", in: `rules: [{action: allow, domain: "*.example.com", ports: [443]}, {action: deny, cidr: 10.0.0.0/8}]`, want: want},
		{name: "ok/yaml-empty-rules", in: "rules: []\n", want: nil},
		{name: "ok/json-empty", in: "{}", want: nil},
		{name: "fail/empty", in: "", err: "empty"},
		{name: "fail/yaml-unquoted-star", in: "rules:\n  - action: allow\n    domain: *.example.com\n", err: `quote domains like "*.example.com"`},
		{name: "fail/yaml-unknown-field", in: "rules:\n  - action: allow\n    domain: a.example\n    port: 443\n", err: "field port not found"},
		{name: "fail/yaml-port-range", in: "rules:\n  - action: allow\n    domain: a.example\n    ports: [70000]\n", err: "line 4"},
		{name: "fail/yaml-bad-rule", in: "rules:\n  - action: allow\n    domain: a.example\n  - action: allow\n    cidr: 10.1.2.3/8\n",
			err: "egress policy rules[1]: cidr \"10.1.2.3/8\" has bits set past the prefix length"},
		{name: "fail/yaml-list-not-policy", in: "- action: allow\n  domain: a.example\n", err: "not an egress policy"},
		{name: "fail/json-unknown-field", in: `{"rules":[{"action":"allow","domain":"a.example","port":443}]}`, err: `unknown field "port"`},
		{name: "fail/json-bad-rule", in: `{"rules":[{"action":"permit","domain":"a.example"}]}`, err: `egress policy rules[0]: action "permit"`},
		{name: "fail/json-trailing", in: `{"rules":[]} {}`, err: "data after the policy object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEgressFile([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseEgressFile = %+v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Rules) != len(tc.want) || (len(tc.want) > 0 && !reflect.DeepEqual(got.Rules, tc.want)) {
				t.Fatalf("rules %+v, want %+v", got.Rules, tc.want)
			}
		})
	}
	t.Run("fail/missing-file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.yaml")
		if _, err := ReadEgressFile(p); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("ReadEgressFile: %v; want an error naming the file", err)
		}
	})
	t.Run("fail/names-the-file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "egress.yaml")
		if err := os.WriteFile(p, []byte("rules:\n  - action: maybe\n    domain: a.example\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadEgressFile(p); err == nil || !strings.Contains(err.Error(), "egress file "+p+": egress policy rules[0]") {
			t.Fatalf("ReadEgressFile: %v", err)
		}
	})
}
