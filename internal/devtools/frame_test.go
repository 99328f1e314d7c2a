package devtools

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		limit  int
		frames []string
		err    error
	}{
		{"two", "{\"a\":1}\x00{}\x00", 100, []string{`{"a":1}`, `{}`}, io.EOF},
		{"cut", "{\"a\":1}\x00{\"b\"", 100, []string{`{"a":1}`}, io.ErrUnexpectedEOF},
		{"at the limit", "12345\x00", 5, []string{"12345"}, io.EOF},
		{"over the limit", "123456\x00", 5, nil, ErrTooLarge},
		{"over the limit without end", "123456", 5, nil, ErrTooLarge},
		{"empty frame", "\x00", 5, []string{""}, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A small buffer makes frames span several reads.
			r := bufio.NewReaderSize(bytes.NewReader([]byte(tc.in)), 16)
			var got []string
			var err error
			for {
				var f []byte
				if f, err = readFrame(r, tc.limit); err != nil {
					break
				}
				got = append(got, string(f))
			}
			if !errors.Is(err, tc.err) || len(got) != len(tc.frames) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.frames, tc.err)
			}
			for i := range got {
				if got[i] != tc.frames[i] {
					t.Fatalf("frame %d: %q, want %q", i, got[i], tc.frames[i])
				}
			}
		})
	}
}

// FuzzParseMessage feeds Chromium's side of the pipe arbitrary bytes:
// the reader and parser must never panic, never return a frame over the
// limit, and accept only responses or events.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"result":{}}`,
		`{"id":2,"sessionId":"AB","error":{"code":-32000,"message":"x","data":"y"}}`,
		`{"method":"Browser.downloadProgress","params":{"guid":"g","totalBytes":10,"receivedBytes":5,"state":"inProgress"}}`,
		`{"method":"Target.attachedToTarget","params":{"sessionId":"S","targetInfo":{"targetId":"T","type":"page"},"waitingForDebugger":true}}`,
		"{\"id\":1}\x00{\"method\":\"a\"}\x00",
		`{"id":-1,"result":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 10
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			frame, err := readFrame(r, limit)
			if err != nil {
				return
			}
			if len(frame) > limit {
				t.Fatalf("frame of %d bytes over the limit", len(frame))
			}
			m, err := parseMessage(frame)
			if err != nil {
				continue
			}
			if (m.ID > 0) == (m.Method != "") {
				t.Fatalf("accepted %q as %+v", frame, m)
			}
		}
	})
}
