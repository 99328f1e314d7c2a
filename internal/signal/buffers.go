package signal

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of an upgraded connection. net/http hands a hijacked
// connection over with its 4 KiB read and write buffers, which
// coder/websocket keeps for the connection's life: 8 KiB for each of
// thousands of mostly idle peers. Neither needs to be large. TLS already
// holds a whole decrypted record, so a small read buffer costs copies, not
// system calls; a message longer than the write buffer goes out as two
// TLS records instead of one, which signaling, a few messages a second at
// most, does not notice.
const (
	readBufferSize  = 256
	writeBufferSize = 512
)

// smallBuffers is the http.ResponseWriter given to websocket.Accept: its
// Hijack hands over the connection with buffers of readBufferSize and
// writeBufferSize, and net/http's own become garbage once the handler
// returns.
type smallBuffers struct {
	http.ResponseWriter
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the wrapped writer's connection. The 101 response has
// been flushed by then (net/http flushes a written header on Hijack).
// What net/http read past the request (a client that got the 101 may
// send its first frame before net/http's background read is stopped) is
// kept in the new read buffer, where Accept looks for it.
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	if n := brw.Writer.Buffered(); n > 0 {
		if err := brw.Writer.Flush(); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hijack: flush %d buffered bytes: %w", n, err)
		}
	}
	br := bufio.NewReaderSize(conn, readBufferSize)
	if n := brw.Reader.Buffered(); n > 0 {
		early, err := brw.Reader.Peek(n)
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hijack: %d bytes read early: %w", n, err)
		}
		// Peek fills the buffer from the early bytes alone, without
		// reading the connection.
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(readBufferSize, n))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hijack: buffer %d bytes read early: %w", n, err)
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, writeBufferSize)), nil
}
