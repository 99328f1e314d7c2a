package signal

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// conn is the relay's end of one upgraded WebSocket connection: frames
// read from what the connection holds when it is readable, and frames
// written one at a time.
//
// Reading is by readiness (see poller), so no read may leave data where
// the kernel cannot signal it. A read pass therefore reads until the
// connection has nothing more buffered in user space: its first read may
// wait for the network (for the rest of a TLS record, say), and the
// others run with a deadline already past, which the runtime answers
// without a system call, so they return only what crypto/tls (or the
// bytes net/http read ahead) already holds. A deadline's timeout is not
// sticky in crypto/tls, and a TLS record read in part stays buffered
// until the rest comes, which the kernel does signal.
//
// Between passes a connection holds only an unfinished frame (pending)
// and an unfinished fragmented message (frag); the read buffer is lent
// from a pool for the pass.
type conn struct {
	nc         net.Conn
	fd         int // the socket, for the poller; -1 when nc hides it
	maxMessage int64

	wmu sync.Mutex // one frame write at a time

	// Owned by the one read pass that runs at a time (peer.reading).
	pending []byte    // the start of a frame not yet whole
	frag    []byte    // a fragmented message so far
	fragOp  ws.OpCode // its opcode; 0 when none is under way
	skip    int64     // payload bytes of a refused frame still to pass over

	// tooBig is told of a frame or message over maxMessage, whose payload
	// is then passed over, so that the close frame that answers the
	// refusal can still be read.
	tooBig func()
}

// readBufferSize is the buffer a read pass borrows: a whole TLS record's
// plaintext (16 KiB) and the frame headers around it. A frame longer than
// that is read into a buffer of its size, at most Options.MaxMessageBytes.
const readBufferSize = 16<<10 + 2*ws.MaxHeaderSize

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// pastDeadline makes a read return only what is buffered already.
var pastDeadline = time.Unix(1, 0)

// errPeerClosed is the peer's close frame, after which nothing more is
// read.
var errPeerClosed = errors.New("peer sent its close frame")

func newConn(nc net.Conn, early []byte, maxMessage int64, tooBig func()) *conn {
	return &conn{nc: nc, fd: socketFD(nc), maxMessage: maxMessage, pending: early, tooBig: tooBig}
}

// socketFD finds the socket under nc (through TLS), or -1.
func socketFD(nc net.Conn) int {
	for {
		switch c := nc.(type) {
		case syscall.Conn:
			rc, err := c.SyscallConn()
			if err != nil {
				return -1
			}
			fd := -1
			if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
				return -1
			}
			return fd
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return -1
		}
	}
}

// frameFunc handles one frame: a control frame, or a whole data message.
// payload is valid only during the call. An error stops the pass.
type frameFunc func(op ws.OpCode, payload []byte) error

// read runs one read pass, handing each frame to fn. first is the first
// read's deadline: a moment ahead when the socket is readable, the zero
// time to block until it is (no poller), or pastDeadline for what is
// buffered only. It returns nil when the connection has nothing more for
// now, and otherwise why reading ends: the connection's error (io.EOF
// when the peer went), fn's, or a protocol error (ws.ProtocolError).
func (c *conn) read(first time.Time, fn frameFunc) error {
	bp := readBuffers.Get().(*[]byte)
	buf := *bp
	defer func() { readBuffers.Put(bp) }()
	b := append(buf[:0], c.pending...)
	c.pending = nil
	if err := c.nc.SetReadDeadline(first); err != nil {
		return fmt.Errorf("set read deadline: %w", err)
	}
	// Frames first: the early bytes of a first pass may hold whole ones,
	// and an unfinished frame may need a bigger buffer before reading.
	deadline := first
	var rerr error
	for {
		used, need, err := c.frames(b, fn)
		if err != nil {
			return err
		}
		b = b[:copy(b, b[used:])]
		if need > cap(b) {
			b = append(make([]byte, 0, need), b...)
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				break
			}
			return rerr
		}
		var n int
		n, rerr = c.nc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if rerr == nil && deadline != pastDeadline {
			deadline = pastDeadline
			if err := c.nc.SetReadDeadline(pastDeadline); err != nil {
				return fmt.Errorf("set read deadline: %w", err)
			}
		}
	}
	if len(b) > 0 {
		c.pending = bytes.Clone(b)
	}
	return nil
}

// frames hands fn every whole frame at the start of b. It returns how
// many bytes it used, and the length of the unfinished frame left, when
// its header is whole.
func (c *conn) frames(b []byte, fn frameFunc) (used, need int, err error) {
	for {
		rest := b[used:]
		if c.skip > 0 {
			if len(rest) == 0 {
				return used, 0, nil
			}
			n := int(min(c.skip, int64(len(rest))))
			c.skip -= int64(n)
			used += n
			continue
		}
		hl := headerLen(rest)
		if hl == 0 || len(rest) < hl {
			return used, 0, nil
		}
		h, err := ws.ReadHeader(bytes.NewReader(rest[:hl]))
		if err != nil {
			return used, 0, err
		}
		state := ws.StateServerSide
		if c.fragOp != 0 {
			state = state.Set(ws.StateFragmented)
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return used, 0, err
		}
		if h.Length > c.maxMessage-int64(len(c.frag)) {
			c.skip = h.Length
			c.frag, c.fragOp = nil, 0
			used += hl
			c.tooBig()
			continue
		}
		total := hl + int(h.Length)
		if len(rest) < total {
			return used, total, nil
		}
		payload := rest[hl:total]
		ws.Cipher(payload, h.Mask, 0)
		used += total
		switch {
		case h.OpCode.IsControl():
			err = fn(h.OpCode, payload)
		case !h.Fin:
			if h.OpCode != ws.OpContinuation {
				c.fragOp = h.OpCode
			}
			c.frag = append(c.frag, payload...)
		case c.fragOp != 0:
			op, msg := c.fragOp, append(c.frag, payload...)
			c.frag, c.fragOp = nil, 0
			err = fn(op, msg)
		default:
			err = fn(h.OpCode, payload)
		}
		if err != nil {
			return used, 0, err
		}
	}
}

// headerLen is the length of the frame header at the start of b, or 0
// when too little of it is there to tell.
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	if b[1]&0x80 != 0 {
		n += 4
	}
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// write sends one unfragmented frame within timeout, in one write (one
// TLS record for a signaling message).
func (c *conn) write(op ws.OpCode, payload []byte, timeout time.Duration) error {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	b := bytes.NewBuffer(make([]byte, 0, ws.HeaderSize(h)+len(payload)))
	if err := ws.WriteHeader(b, h); err != nil {
		return fmt.Errorf("frame header: %w", err)
	}
	b.Write(payload)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := c.nc.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write frame (opcode %d): %w", op, err)
	}
	return nil
}
