// Package files moves files between the remote browser and the viewer's
// machine over the viewer's "files" data channel: downloads the page
// starts (announced, offered, sent only when the user asks), and uploads
// the user gives (held for the page's next file chooser). It drives
// Chromium over internal/devtools and leaves the transport to
// internal/stream: it sees the channel as text and binary messages.
//
// The protocol is in docs/viewer-protocol.md ("Files").
package files

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the viewer's messages.
const (
	maxControl = 4 << 10 // a JSON control message
	// ChunkSize is the most data in one binary message either way: the
	// size every browser's SCTP stack sends unfragmented.
	ChunkSize = 16 << 10
	maxName   = 255 // bytes of a file name, as in most file systems
	maxID     = 1<<31 - 1
)

// inMsg is a control message from the viewer.
type inMsg struct {
	T      string `json:"t"`
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// parseControl decodes and checks a text message from the viewer. Errors
// say what was wrong in the viewer's terms.
func parseControl(data []byte) (inMsg, error) {
	var m inMsg
	if len(data) > maxControl {
		return m, fmt.Errorf("files message of %d bytes is over the limit of %d", len(data), maxControl)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, errors.New("files message is not a JSON object with the fields of docs/viewer-protocol.md")
	}
	if m.ID <= 0 || m.ID > maxID {
		return m, fmt.Errorf("files message %q: id %d is not within 1..%d", truncate(m.T, 20), m.ID, maxID)
	}
	switch m.T {
	case "get", "cancel":
	case "upload":
		name, err := cleanName(m.Name)
		if err != nil {
			return m, err
		}
		m.Name = name
		if m.Size < 0 {
			return m, fmt.Errorf("upload %q: size %d is negative", m.Name, m.Size)
		}
	case "end":
		if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
			return m, fmt.Errorf("end of upload %d: sha256 %q is not 64 hex digits", m.ID, truncate(m.SHA256, 70))
		}
		m.SHA256 = strings.ToLower(m.SHA256)
	case "":
		return m, errors.New(`files message has no "t"`)
	default:
		return m, fmt.Errorf("unknown files message type %q", truncate(m.T, 40))
	}
	return m, nil
}

// parseChunk splits a binary message into its transfer id and data.
func parseChunk(data []byte) (int64, []byte, error) {
	if len(data) < 4 {
		return 0, nil, fmt.Errorf("file chunk of %d bytes has no 4-byte id", len(data))
	}
	if len(data)-4 > ChunkSize {
		return 0, nil, fmt.Errorf("file chunk of %d bytes is over the limit of %d", len(data)-4, ChunkSize)
	}
	id := int64(binary.BigEndian.Uint32(data))
	if id == 0 || id > maxID {
		return 0, nil, fmt.Errorf("file chunk for id %d: ids are 1..%d", id, maxID)
	}
	return id, data[4:], nil
}

// chunk frames data for transfer id.
func chunk(id int64, data []byte) []byte {
	b := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(b, uint32(id))
	copy(b[4:], data)
	return b
}

// cleanName makes a name from the viewer (or a page) a plain file name:
// no directories, no control characters, not "." or "..", within 255
// bytes. It refuses what it cannot keep rather than guess.
func cleanName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", errors.New("file name is not UTF-8")
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "", fmt.Errorf("file name %q is not a file name", name)
	}
	if strings.ContainsAny(name, `/\`) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("file name %q holds a slash or a control character", truncate(name, 60))
	}
	if len(name) > maxName {
		return "", fmt.Errorf("file name of %d bytes is over the limit of %d", len(name), maxName)
	}
	return filepath.Base(name), nil
}

// safeName is cleanName for names the agent must show anyway (a page's
// suggested download name): what cannot be kept is replaced.
func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || unicode.IsControl(r) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	name = strings.TrimSpace(name)
	if len(name) > maxName {
		name = truncate(name, maxName-len("…"))
	}
	if name == "" || name == "." || name == ".." {
		return "download"
	}
	return name
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

// outMsg is a control message to the viewer.
type outMsg struct {
	T           string `json:"t"`
	ID          int64  `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Received    int64  `json:"received,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	Message     string `json:"message,omitempty"`
	Dir         string `json:"dir,omitempty"` // of a refusal: "upload" or "download"
	Multiple    bool   `json:"multiple,omitempty"`
	DownloadMax int64  `json:"download_max,omitempty"`
	UploadMax   int64  `json:"upload_max,omitempty"`
}

func (m outMsg) encode() string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("files: encode %s: %v", m.T, err)) // unreachable: strings and ints only
	}
	return string(b)
}
