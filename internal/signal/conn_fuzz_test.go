package signal

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gobwas/ws"
)

// frameLog is what frames handed over, in order, and how parsing ended.
type frameLog struct {
	frames []string
	tooBig int
	err    string
}

// parseChunks feeds data to a conn's frame parser cut into pieces of
// the given sizes (the rest in one), as reads of a socket would, and
// records what it hands over.
func parseChunks(data []byte, cuts []int, limit int64) frameLog {
	var log frameLog
	c := &conn{maxMessage: limit}
	c.tooBig = func() { log.tooBig++ }
	fn := func(op ws.OpCode, payload []byte) error {
		if int64(len(payload)) > limit {
			panic(fmt.Sprintf("a %d-byte payload over the %d-byte limit", len(payload), limit))
		}
		log.frames = append(log.frames, fmt.Sprintf("%d:%q", op, payload))
		return nil
	}
	var b []byte
	for len(data) > 0 {
		n := len(data)
		if len(cuts) > 0 {
			n = min(max(cuts[0], 1), len(data))
			cuts = cuts[1:]
		}
		b = append(b, data[:n]...)
		data = data[n:]
		used, _, err := c.frames(b, fn)
		if err != nil {
			log.err = err.Error()
			return log
		}
		b = b[used:]
	}
	return log
}

// FuzzFrames: the frame parser, which reads what any client sends, never
// panics, never hands over a payload over the limit, refuses what
// RFC 6455 forbids of a client (unmasked frames among them), and hands
// over the same frames however the bytes are cut into reads.
func FuzzFrames(f *testing.F) {
	f.Add(maskedText(`{"type":"ping"}`), uint8(3), uint8(7))
	frag := maskedText(`{"type":`)
	frag[0] = 0x01
	last := maskedText(`"ping"}`)
	last[0] = 0x80
	ping := maskedText("hi")
	ping[0] = 0x89
	f.Add(bytes.Join([][]byte{frag, ping, last}, nil), uint8(1), uint8(2))
	f.Add([]byte{0x81, 2, '{', '}'}, uint8(1), uint8(1))                              // unmasked
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}, uint8(5), uint8(9)) // 64 KiB declared
	f.Add(append([]byte{0x88, 0x82, 0, 0, 0, 0}, 0x03, 0xe8), uint8(2), uint8(2))     // close 1000
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		const limit = 256
		whole := parseChunks(data, nil, limit)
		cut := parseChunks(data, []int{int(a), int(b), int(a) + int(b)}, limit)
		ones := make([]int, len(data))
		for i := range ones {
			ones[i] = 1
		}
		bytewise := parseChunks(data, ones, limit)
		for _, got := range []frameLog{cut, bytewise} {
			if fmt.Sprint(got) != fmt.Sprint(whole) {
				t.Fatalf("cut into reads: %v\nwhole: %v", got, whole)
			}
		}
		if len(data) >= 2 && data[1]&0x80 == 0 && len(whole.frames) > 0 && whole.tooBig == 0 {
			t.Fatalf("an unmasked first frame was handed over: %v", whole)
		}
	})
}
