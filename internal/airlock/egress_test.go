package airlock

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestEgressPolicyValidate(t *testing.T) {
	allow := func(domain, cidr string, ports ...uint16) EgressRule {
		return EgressRule{Action: EgressAllow, Domain: domain, CIDR: cidr, Ports: ports}
	}
	many := make([]EgressRule, MaxEgressRules+1)
	for i := range many {
		many[i] = allow("example.com", "")
	}
	manyPorts := make([]uint16, MaxEgressRulePorts+1)
	for i := range manyPorts {
		manyPorts[i] = uint16(i + 1)
	}
	for _, tc := range []struct {
		name  string
		rules []EgressRule
		want  string // "" for valid; else a part of the message
	}{
		{"empty", nil, ""},
		{"domain", []EgressRule{allow("example.com", "")}, ""},
		{"wildcard", []EgressRule{allow("*.example.com", "", 443)}, ""},
		{"star", []EgressRule{{Action: EgressDeny, Domain: "*"}}, ""},
		{"idna", []EgressRule{allow("xn--bcher-kva.example", "")}, ""},
		{"cidr4", []EgressRule{allow("", "10.1.0.0/16", 80, 443)}, ""},
		{"cidr6", []EgressRule{allow("", "2001:db8::/32")}, ""},
		{"single address", []EgressRule{allow("", "10.1.2.3")}, ""},
		{"max rules", many[:MaxEgressRules], ""},
		{"too many rules", many, "257 rules"},
		{"bad action", []EgressRule{{Action: "permit", Domain: "a.b"}}, `rules[0]: action "permit"`},
		{"no target", []EgressRule{allow("", "")}, "rules[0]: a rule needs a domain or a cidr"},
		{"both", []EgressRule{allow("a.b", "10.0.0.0/8")}, "not both"},
		{"uppercase", []EgressRule{allow("a.b", ""), allow("Example.com", "")}, "rules[1]: domain \"Example.com\": label \"Example\" has uppercase"},
		{"trailing dot", []EgressRule{allow("example.com.", "")}, "trailing dot"},
		{"empty label", []EgressRule{allow("a..b", "")}, "empty label"},
		{"inner wildcard", []EgressRule{allow("a.*.b", "")}, "wildcard"},
		{"double wildcard", []EgressRule{allow("*.*.b", "")}, "wildcard"},
		{"bare star dot", []EgressRule{allow("*.", "")}, "empty label"},
		{"unicode", []EgressRule{allow("bücher.example", "")}, "IDNA"},
		{"underscore", []EgressRule{allow("a_b.example", "")}, "character '_'"},
		{"hyphen edge", []EgressRule{allow("-a.example", "")}, "hyphen"},
		{"long label", []EgressRule{allow(strings.Repeat("a", 64)+".example", "")}, "64 characters"},
		{"long name", []EgressRule{allow(strings.Repeat("a.", 127)+"ab", "")}, "at most 253"},
		{"address as domain", []EgressRule{allow("10.0.0.1", "")}, "use cidr"},
		{"bad cidr", []EgressRule{allow("", "10.0.0.0/33")}, "not a prefix"},
		{"host bits", []EgressRule{allow("", "10.1.2.3/16")}, "did you mean 10.1.0.0/16"},
		{"not an address", []EgressRule{allow("", "example.com")}, "not a prefix or an address"},
		{"zone", []EgressRule{allow("", "fe80::1%eth0")}, "zone"},
		{"mapped", []EgressRule{allow("", "::ffff:10.0.0.0/104")}, "IPv4-mapped"},
		{"port zero", []EgressRule{allow("a.b", "", 443, 0)}, "port 0"},
		{"too many ports", []EgressRule{allow("a.b", "", manyPorts...)}, "65 ports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := EgressPolicy{Rules: tc.rules}.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted it; want an error with %q", tc.want)
			}
			if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v; want %s with %q", err, EINVALID, tc.want)
			}
		})
	}
}

func TestParseEgressPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     EgressPolicy
		err      string
	}{
		{"empty object", `{}`, EgressPolicy{}, ""},
		{"rules", `{"rules":[{"action":"allow","domain":"*.example.com","ports":[443]},{"action":"deny","cidr":"10.0.0.0/8"}]}`,
			EgressPolicy{Rules: []EgressRule{{Action: "allow", Domain: "*.example.com", Ports: []uint16{443}}, {Action: "deny", CIDR: "10.0.0.0/8"}}}, ""},
		{"unknown field", `{"rules":[{"action":"allow","domain":"a.b","port":443}]}`, EgressPolicy{}, `unknown field "port"`},
		{"unknown top field", `{"rule":[]}`, EgressPolicy{}, `unknown field "rule"`},
		{"trailing data", `{} {}`, EgressPolicy{}, "data after"},
		{"port out of range", `{"rules":[{"action":"allow","domain":"a.b","ports":[65536]}]}`, EgressPolicy{}, "not valid JSON"},
		{"not json", `rules: []`, EgressPolicy{}, "not valid JSON"},
		{"invalid rule", `{"rules":[{"action":"allow"}]}`, EgressPolicy{}, "rules[0]"},
		{"too big", `{"rules":[` + strings.Repeat(" ", MaxEgressPolicySize) + `]}`, EgressPolicy{}, "bytes; at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEgressPolicy([]byte(tc.in))
			if tc.err != "" {
				if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseEgressPolicy: %v; want %s with %q", err, EINVALID, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEgressPolicy: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseEgressPolicy = %+v; want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseEgressPolicy checks that whatever the parser accepts is valid
// and survives a round trip through JSON unchanged.
func FuzzParseEgressPolicy(f *testing.F) {
	f.Add([]byte(`{"rules":[{"action":"deny","domain":"*"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseEgressPolicy(data)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v is not %s", err, EINVALID)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed policy does not validate: %v", err)
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		q, err := ParseEgressPolicy(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if fmt.Sprint(p) != fmt.Sprint(q) {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}
