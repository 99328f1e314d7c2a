package audio

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestReadPacket(t *testing.T) {
	good := AppendPacket(nil, Packet{Data: []byte{0xfc, 1, 2}, Pos: 480})
	tests := []struct {
		name string
		in   []byte
		want Packet
		err  error // errors.Is; nil: success
	}{
		{"ok", good, Packet{Data: []byte{0xfc, 1, 2}, Pos: 480}, nil},
		{"largest", AppendPacket(nil, Packet{Data: make([]byte, MaxPacket), Pos: 1 << 40}), Packet{Data: make([]byte, MaxPacket), Pos: 1 << 40}, nil},
		{"clean end", nil, Packet{}, io.EOF},
		{"cut header", good[:7], Packet{}, io.ErrUnexpectedEOF},
		{"cut payload", good[:len(good)-1], Packet{}, io.ErrUnexpectedEOF},
		{"header only", good[:headerSize], Packet{}, io.ErrUnexpectedEOF},
		{"bad magic", append([]byte("AFRM"), good[4:]...), Packet{}, ErrBadPacket},
		{"empty packet", AppendPacket(nil, Packet{Pos: 1}), Packet{}, ErrBadPacket},
		{"too large", append(append([]byte("AOPS"), 0xa1, 0x0f, 0, 0), make([]byte, 8)...), Packet{}, ErrBadPacket},
		{"huge size", append(append([]byte("AOPS"), 0xff, 0xff, 0xff, 0xff), make([]byte, 8)...), Packet{}, ErrBadPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPacket(bytes.NewReader(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadPacketStream(t *testing.T) {
	var b []byte
	for i := range 3 {
		b = AppendPacket(b, Packet{Data: []byte{byte(i)}, Pos: uint64(i) * 480})
	}
	r := bytes.NewReader(b)
	for i := range 3 {
		p, err := ReadPacket(r)
		if err != nil || p.Pos != uint64(i)*480 || !bytes.Equal(p.Data, []byte{byte(i)}) {
			t.Fatalf("packet %d: %+v, %v", i, p, err)
		}
	}
	if _, err := ReadPacket(r); err != io.EOF {
		t.Fatalf("after the last packet: %v, want EOF", err)
	}
}

// FuzzReadPacket: whatever a broken or hostile helper writes, the parser
// returns a packet that re-encodes to what it read, or an error; it never
// panics or allocates past MaxPacket.
func FuzzReadPacket(f *testing.F) {
	f.Add(AppendPacket(nil, Packet{Data: []byte{0xfc, 0xff, 0xfe}, Pos: 0}))
	f.Add(AppendPacket(AppendPacket(nil, Packet{Data: []byte{1}, Pos: 480}), Packet{Data: []byte{2}, Pos: 96000}))
	f.Add([]byte("AOPS\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			before := r.Len()
			p, err := ReadPacket(r)
			if err != nil {
				return
			}
			if len(p.Data) == 0 || len(p.Data) > MaxPacket {
				t.Fatalf("accepted a packet of %d bytes", len(p.Data))
			}
			used := in[len(in)-before : len(in)-r.Len()]
			if again := AppendPacket(nil, p); !bytes.Equal(again, used) {
				t.Fatalf("packet %+v re-encodes to %x, read from %x", p, again, used)
			}
		}
	})
}
