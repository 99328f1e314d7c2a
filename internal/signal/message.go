package signal

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Message types of protocol airlock.signal.v1.
const (
	typeOffer     = "offer"
	typeAnswer    = "answer"
	typeCandidate = "candidate"
	typeControl   = "control"
	typePing      = "ping"
	typePong      = "pong"
	// The first message of a connection opened without a token, and only
	// that one.
	typeAuth = "auth"

	// Sent by the relay only.
	typeError        = "error"
	typeAgentReady   = "agent-ready"
	typeViewerJoined = "viewer-joined"
	typePeerLeft     = "peer-left"
)

// maxQuotedType bounds how much of an unknown type is echoed in a close
// reason, which RFC 6455 limits to 123 bytes.
const maxQuotedType = 60

// message is a parsed client message: its type and all of its fields, kept
// as raw JSON so that relayed payloads pass through untouched.
type message struct {
	Type   string
	fields map[string]json.RawMessage
}

// relayed reports whether messages of this type go to the other peer.
func (m message) relayed() bool {
	switch m.Type {
	case typeOffer, typeAnswer, typeCandidate, typeControl:
		return true
	}
	return false
}

// parseMessage decodes and validates one text frame. The frame must be a
// single JSON object with a string "type" that this protocol knows; offers
// and answers need an "sdp" string and candidates a "candidate" field
// (an object, a string, or null for end-of-candidates). Errors are meant
// for the close reason sent to the peer, so they are short and name no
// internals.
func parseMessage(data []byte) (message, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return message{}, errors.New("message is not a JSON object")
	}
	if fields == nil { // the literal null
		return message{}, errors.New("message is not a JSON object")
	}
	rawType, ok := fields["type"]
	if !ok {
		return message{}, errors.New("message has no \"type\"")
	}
	var typ string
	if err := json.Unmarshal(rawType, &typ); err != nil {
		return message{}, errors.New("message \"type\" is not a string")
	}
	m := message{Type: typ, fields: fields}
	switch typ {
	case typeOffer, typeAnswer:
		var sdp string
		raw, ok := fields["sdp"]
		if !ok || json.Unmarshal(raw, &sdp) != nil {
			return message{}, fmt.Errorf("%s needs an \"sdp\" string", typ)
		}
	case typeCandidate:
		raw, ok := fields["candidate"]
		if !ok {
			return message{}, errors.New("candidate needs a \"candidate\" field")
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return message{}, errors.New("candidate has a bad \"candidate\" field")
		}
		switch v.(type) {
		case nil, string, map[string]any:
		default:
			return message{}, errors.New("candidate \"candidate\" must be an object, a string or null")
		}
	case typeAuth:
		var tok string
		raw, ok := fields["token"]
		if !ok || json.Unmarshal(raw, &tok) != nil || tok == "" {
			return message{}, errors.New("auth needs a \"token\" string")
		}
	case typeControl, typePing, typePong:
	default:
		return message{}, fmt.Errorf("unknown message type %s", quoteShort(typ))
	}
	return m, nil
}

// token is an auth message's token.
func (m message) token() string {
	var tok string
	_ = json.Unmarshal(m.fields["token"], &tok) // checked by parseMessage
	return tok
}

// quoteShort quotes s for a close reason, cut so the quoted form stays
// within maxQuotedType bytes (escapes can make it four times longer).
func quoteShort(s string) string {
	cut := len(s) > maxQuotedType
	if cut {
		s = s[:maxQuotedType]
	}
	for q := strconv.Quote(s); len(q) > maxQuotedType; q = strconv.Quote(s) {
		s, cut = s[:len(s)-1], true
	}
	if cut {
		return strconv.Quote(s) + "…"
	}
	return strconv.Quote(s)
}

// marshalFrom encodes m for the other peer, with "from" set to the
// sender's role. A "from" sent by the client is overwritten, so a peer
// cannot pose as the other side.
func (m message) marshalFrom(role string) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(m.fields)+1)
	for k, v := range m.fields {
		out[k] = v
	}
	from, err := json.Marshal(role)
	if err != nil {
		return nil, fmt.Errorf("encode sender role: %w", err)
	}
	out["from"] = from
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode %s message: %w", m.Type, err)
	}
	return b, nil
}

// relayMsg is a message the relay itself sends.
type relayMsg struct {
	Type    string `json:"type"`
	Role    string `json:"role,omitempty"`
	Message string `json:"message,omitempty"`
}

// encode marshals a relay message; its fields are plain strings, so it
// cannot fail.
func (r relayMsg) encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("signal: encode relay message: %v", err)) // unreachable: strings only
	}
	return b
}
