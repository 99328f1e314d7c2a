package signal

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"ok/offer", `{"type":"offer","sdp":"v=0"}`, ""},
		{"ok/answer", `{"type":"answer","sdp":""}`, ""},
		{"ok/candidate object", `{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0"}}`, ""},
		{"ok/candidate string", `{"type":"candidate","candidate":"c"}`, ""},
		{"ok/end of candidates", `{"type":"candidate","candidate":null}`, ""},
		{"ok/control", `{"type":"control","action":"resize","w":1280,"h":720}`, ""},
		{"ok/ping", `{"type":"ping"}`, ""},
		{"ok/pong", ` {"type":"pong"} `, ""},
		{"ok/auth", `{"type":"auth","token":"t"}`, ""},
		{"fail/auth token number", `{"type":"auth","token":7}`, `auth needs a "token" string`},
		{"fail/auth token empty", `{"type":"auth","token":""}`, `auth needs a "token" string`},
		{"fail/array", `[1]`, "not a JSON object"},
		{"fail/null", `null`, "not a JSON object"},
		{"fail/trailing data", `{"type":"ping"}{}`, "not a JSON object"},
		{"fail/type not string", `{"type":1}`, `"type" is not a string`},
		{"fail/no type", `{}`, `no "type"`},
		{"fail/unknown", `{"type":"hello"}`, `unknown message type "hello"`},
		{"fail/relay-only type", `{"type":"agent-ready"}`, `unknown message type "agent-ready"`},
		{"fail/offer sdp number", `{"type":"offer","sdp":1}`, `"sdp" string`},
		{"fail/candidate missing", `{"type":"candidate"}`, `"candidate" field`},
		{"fail/candidate number", `{"type":"candidate","candidate":5}`, "must be an object"},
		{"fail/long unknown type", `{"type":"` + strings.Repeat("z", 500) + `"}`, "unknown message type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMessage([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if _, err := m.marshalFrom(RoleViewer); err != nil {
					t.Fatalf("marshal: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want containing %q", err, tt.wantErr)
			}
			if len(err.Error()) > 123 { // close reasons are limited to 123 bytes
				t.Errorf("error %d bytes, too long for a close reason", len(err.Error()))
			}
		})
	}
}

// FuzzMessage checks that parsing never panics, that errors fit in a close
// reason, and that an accepted message re-marshals into one that parses to
// the same type, with "from" set to the sender.
func FuzzMessage(f *testing.F) {
	f.Add([]byte(`{"type":"offer","sdp":"v=0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMessage(data)
		if err != nil {
			if len(err.Error()) > 123 {
				t.Fatalf("error too long for a close reason: %d bytes", len(err.Error()))
			}
			return
		}
		b, err := m.marshalFrom(RoleAgent)
		if err != nil {
			t.Fatalf("accepted message does not re-marshal: %v", err)
		}
		m2, err := parseMessage(b)
		if err != nil {
			t.Fatalf("re-marshalled %q does not parse: %v", b, err)
		}
		if m2.Type != m.Type {
			t.Fatalf("type %q became %q", m.Type, m2.Type)
		}
		var from string
		if err := json.Unmarshal(m2.fields["from"], &from); err != nil || from != RoleAgent {
			t.Fatalf("from = %q (%v), want %q", from, err, RoleAgent)
		}
	})
}
