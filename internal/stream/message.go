package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits on viewer messages: a message outside them is refused with a
// reason, never half-applied.
const (
	maxCoord     = 16384
	maxKeyLen    = 32
	maxClipBytes = 256 << 10
	maxTextRunes = 1024 // one commit of an input method is a few words
	maxWheel     = 100000
	minSide      = 320
	maxSide      = 3840
)

// inMsg is one message from the viewer on the data channel.
type inMsg struct {
	T    string  `json:"t"`
	X    int     `json:"x"`
	Y    int     `json:"y"`
	B    int     `json:"b"`
	Down bool    `json:"down"`
	DX   float64 `json:"dx"`
	DY   float64 `json:"dy"`
	Key  string  `json:"key"`
	Code string  `json:"code"`
	Text string  `json:"text"`
	W    int     `json:"w"`
	H    int     `json:"h"`
}

// parseInput decodes and checks one viewer message. Errors are for the
// viewer, so they say what was wrong in its terms.
func parseInput(data []byte) (inMsg, error) {
	var m inMsg
	if len(data) > maxClipBytes+1024 {
		return m, fmt.Errorf("message of %d bytes is over the limit of %d", len(data), maxClipBytes+1024)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, errors.New("message is not a JSON object with the fields of docs/viewer-protocol.md")
	}
	switch m.T {
	case "move":
		if m.X < 0 || m.Y < 0 || m.X >= maxCoord || m.Y >= maxCoord {
			return m, fmt.Errorf("move to %d,%d is off the screen", m.X, m.Y)
		}
	case "button":
		if m.B < 1 || m.B > 9 {
			return m, fmt.Errorf("button %d: buttons are 1 to 9", m.B)
		}
	case "wheel":
		if m.DX > maxWheel || m.DX < -maxWheel || m.DY > maxWheel || m.DY < -maxWheel {
			return m, fmt.Errorf("wheel delta %v,%v out of range", m.DX, m.DY)
		}
	case "key":
		if m.Key == "" || len(m.Key) > maxKeyLen || len(m.Code) > maxKeyLen || !utf8.ValidString(m.Key) {
			return m, fmt.Errorf("key %q: need a key name or character of at most %d bytes", m.Key, maxKeyLen)
		}
	case "text":
		if err := checkText(m.Text); err != nil {
			return m, err
		}
	case "clip":
		if len(m.Text) > maxClipBytes {
			return m, fmt.Errorf("clipboard text of %d bytes is over the limit of %d", len(m.Text), maxClipBytes)
		}
	case "resize":
		if m.W < minSide || m.H < minSide || m.W > maxSide || m.H > maxSide {
			return m, fmt.Errorf("resize to %dx%d: sides must be within %d..%d", m.W, m.H, minSide, maxSide)
		}
		// Encoders need even sides; round down rather than refuse.
		m.W &^= 1
		m.H &^= 1
	case "keyframe":
	case "":
		return m, errors.New(`message has no "t"`)
	default:
		return m, fmt.Errorf("unknown message type %q", truncate(m.T, 40))
	}
	return m, nil
}

// checkText checks the committed text of a "text" message: some
// characters, not too many, and no control character but newline and tab
// (typed as Enter and Tab).
func checkText(text string) error {
	if text == "" {
		return errors.New(`text message with no "text"`)
	}
	if !utf8.ValidString(text) {
		return errors.New("text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(text); n > maxTextRunes {
		return fmt.Errorf("text of %d characters is over the limit of %d", n, maxTextRunes)
	}
	for _, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Errorf("text has the control character %U", r)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// outMsg is one message to the viewer.
type outMsg struct {
	T         string  `json:"t"`
	W         int     `json:"w,omitempty"`
	H         int     `json:"h,omitempty"`
	Clipboard string  `json:"clipboard,omitempty"`
	Scale     float64 `json:"scale,omitempty"`
	Text      string  `json:"text,omitempty"`
	CSS       string  `json:"css,omitempty"`
	PNG       []byte  `json:"png,omitempty"` // base64 in JSON
	X         int     `json:"x,omitempty"`
	Y         int     `json:"y,omitempty"`
	Message   string  `json:"message,omitempty"`
}

func (m outMsg) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("stream: encode %s: %v", m.T, err)) // unreachable: strings and ints only
	}
	return b
}
