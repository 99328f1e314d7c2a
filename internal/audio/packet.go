// Package audio gives a Chromium session its sound: it runs the
// workspace's PulseAudio daemon (a null sink that Chromium plays into)
// and airlock-audio, the small C program of the image that records the
// sink's monitor and encodes it as Opus, and reads the packets the
// helper writes. The agent is built without cgo, so, as with the video
// encoder (internal/encoder), the codec lives in a child process.
//
// The helper's output, all integers little endian, one record per Opus
// packet:
//
//	"AOPS" u32 size u64 pos, then size bytes (one Opus packet)
//
// pos is the packet's first sample on a 48 kHz clock starting at 0; the
// helper sends nothing for silence, so a jump in pos larger than a frame
// is time without sound, not loss.
//
// What it leaves out: sound from the viewer to the session (no
// microphone), and any mixing: the sink is Chromium's alone.
package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Rate is the sample rate of the helper's clock and of Opus in RTP.
const Rate = 48000

// MaxPacket is the most a packet may hold: libopus's recommended output
// buffer, far above what a 20 ms frame at 510 kbit/s takes.
const MaxPacket = 4000

const headerSize = 16

var magic = []byte("AOPS")

// Packet is one encoded frame.
type Packet struct {
	// Data is one Opus packet; the caller owns it.
	Data []byte
	// Pos is the frame's first sample on the helper's 48 kHz clock.
	Pos uint64
}

// ErrBadPacket wraps every refusal of ReadPacket other than the reader's
// own errors: the stream is out of step and the helper is not to be
// trusted further.
var ErrBadPacket = errors.New("bad audio packet")

// ReadPacket reads one packet. At a clean end between packets it returns
// io.EOF; a stream cut inside a packet is io.ErrUnexpectedEOF.
func ReadPacket(r io.Reader) (Packet, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Packet{}, err
	}
	if !bytes.Equal(h[:4], magic) {
		return Packet{}, fmt.Errorf("%w: magic %q, want %q", ErrBadPacket, h[:4], magic)
	}
	size := binary.LittleEndian.Uint32(h[4:])
	if size == 0 || size > MaxPacket {
		return Packet{}, fmt.Errorf("%w: size %d, want 1 to %d", ErrBadPacket, size, MaxPacket)
	}
	p := Packet{Data: make([]byte, size), Pos: binary.LittleEndian.Uint64(h[8:])}
	if _, err := io.ReadFull(r, p.Data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, fmt.Errorf("read %d bytes of audio: %w", size, err)
	}
	return p, nil
}

// AppendPacket appends p in the helper's format (for tests and fakes).
func AppendPacket(b []byte, p Packet) []byte {
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data)))
	b = binary.LittleEndian.AppendUint64(b, p.Pos)
	return append(b, p.Data...)
}
