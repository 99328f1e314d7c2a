package devtools

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxMessage bounds one message from Chromium. The agent asks for
// nothing large (no screenshots, no response bodies), so a bigger frame
// is a renderer gone wrong or hostile, and the connection ends rather
// than buffer it.
const MaxMessage = 4 << 20

// ErrTooLarge is a frame over MaxMessage.
var ErrTooLarge = errors.New("devtools: message over the size limit")

// readFrame reads one NUL-terminated message, without its NUL. A stream
// that ends inside a message is io.ErrUnexpectedEOF; one that ends
// between messages is io.EOF.
func readFrame(r *bufio.Reader, limit int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice(0)
		n := len(buf) + len(chunk)
		if err == nil {
			n-- // the NUL
		}
		if n > limit {
			return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// message is one message from Chromium: a response (ID set) or an event
// (Method set), on the browser (SessionID empty) or on a target's
// session.
type message struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	SessionID string          `json:"sessionId"`
	Result    json.RawMessage `json:"result"`
	Params    json.RawMessage `json:"params"`
	Error     *Error          `json:"error"`
}

// Error is an error answer from Chromium.
type Error struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *Error) Error() string {
	if e.Data != "" {
		return fmt.Sprintf("devtools: %s (%d): %s", e.Message, e.Code, e.Data)
	}
	return fmt.Sprintf("devtools: %s (%d)", e.Message, e.Code)
}

// maxName bounds a method or session name: real ones are short.
const maxName = 256

// parseMessage decodes and checks one frame.
func parseMessage(data []byte) (message, error) {
	var m message
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&m); err != nil {
		return m, fmt.Errorf("devtools: message is not a JSON object: %w", err)
	}
	if d.More() {
		return m, errors.New("devtools: message has data after its JSON object")
	}
	if len(m.Method) > maxName || len(m.SessionID) > maxName {
		return m, errors.New("devtools: message's method or session name is over 256 bytes")
	}
	switch {
	case m.ID > 0 && m.Method == "":
		if m.Error == nil && m.Result == nil {
			return m, fmt.Errorf("devtools: response %d has neither result nor error", m.ID)
		}
	case m.ID == 0 && m.Method != "":
	default:
		return m, fmt.Errorf("devtools: message is neither a response (id>0) nor an event (method) (id %d, method %q)", m.ID, m.Method)
	}
	return m, nil
}
