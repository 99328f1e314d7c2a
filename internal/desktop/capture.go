package desktop

import (
	"errors"
	"fmt"
	"sync"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
	"golang.org/x/sys/unix"
)

// Frame is one captured screen: 32-bit BGRX pixels, row after row.
// Pix belongs to the Capture and is overwritten by the next Grab.
type Frame struct {
	Pix           []byte
	Width, Height int
	Stride        int
	// ShmID is the SysV shared memory segment Pix lies in: another
	// process of the same IPC namespace (the encoder) can read the frame
	// there instead of being sent it.
	ShmID int
}

// Capture grabs the screen of an X display through MIT-SHM, so a frame
// moves from the X server to the agent without a copy through the socket,
// and tells when the screen changed through the DAMAGE extension, so that
// an unchanged screen costs nothing.
type Capture struct {
	conn   *xgb.Conn
	root   xproto.Window
	damage damage.Damage

	// done is closed when the events goroutine has returned, after xgb's
	// reader: see Close.
	done    chan struct{}
	changed chan struct{} // one pending "screen changed" at most
	resized chan struct{}
	cursor  chan Cursor
	// cursorCache is only touched by the events goroutine.
	cursorCache map[uint32][]byte

	mu     sync.Mutex // guards the fields below and serializes Grab
	w, h   int
	seg    shm.Seg
	shmid  int
	mem    []byte
	closed bool
}

// OpenCapture connects to display (e.g. ":0") and prepares to capture its
// first screen.
func OpenCapture(display string) (*Capture, error) {
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("connect to X display %s: %w", display, err)
	}
	c := &Capture{conn: conn, done: make(chan struct{}), changed: make(chan struct{}, 1), resized: make(chan struct{}, 1), cursor: make(chan Cursor, 1), cursorCache: map[uint32][]byte{}}
	if err := c.init(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("capture display %s: %w", display, err)
	}
	go c.events()
	return c, nil
}

func (c *Capture) init() error {
	for _, ext := range []struct {
		name string
		init func(*xgb.Conn) error
	}{{"MIT-SHM", shm.Init}, {"XFIXES", xfixes.Init}, {"DAMAGE", damage.Init}, {"RANDR", randr.Init}} {
		if err := ext.init(c.conn); err != nil {
			return fmt.Errorf("missing X extension %s: %w", ext.name, err)
		}
	}
	// Both must be asked for their version before first use.
	if _, err := xfixes.QueryVersion(c.conn, 5, 0).Reply(); err != nil {
		return fmt.Errorf("XFIXES version: %w", err)
	}
	if _, err := damage.QueryVersion(c.conn, 1, 1).Reply(); err != nil {
		return fmt.Errorf("DAMAGE version: %w", err)
	}
	c.root = xproto.Setup(c.conn).DefaultScreen(c.conn).Root
	var err error
	if c.damage, err = damage.NewDamageId(c.conn); err != nil {
		return fmt.Errorf("damage id: %w", err)
	}
	// NonEmpty: one event when the damaged region stops being empty; Grab
	// empties it again. Events then arrive at most once per frame.
	if err := damage.CreateChecked(c.conn, c.damage, xproto.Drawable(c.root), damage.ReportLevelNonEmpty).Check(); err != nil {
		return fmt.Errorf("create damage: %w", err)
	}
	if err := randr.SelectInputChecked(c.conn, c.root, randr.NotifyMaskScreenChange).Check(); err != nil {
		return fmt.Errorf("select RandR events: %w", err)
	}
	if err := c.watchCursor(); err != nil {
		return fmt.Errorf("select cursor events: %w", err)
	}
	return c.attach()
}

// attach sizes the shared memory segment to the screen's current size.
func (c *Capture) attach() error {
	geo, err := xproto.GetGeometry(c.conn, xproto.Drawable(c.root)).Reply()
	if err != nil {
		return fmt.Errorf("screen geometry: %w", err)
	}
	w, h := int(geo.Width), int(geo.Height)
	if c.mem != nil && w == c.w && h == c.h {
		return nil
	}
	c.detach()
	size := w * h * 4
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600)
	if err != nil {
		return fmt.Errorf("shared memory of %d bytes: %w", size, err)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		return fmt.Errorf("attach shared memory: %w", err)
	}
	seg, err := shm.NewSegId(c.conn)
	if err == nil {
		err = shm.AttachChecked(c.conn, seg, uint32(id), false).Check()
	}
	// Marked for removal now: the kernel frees it when both the X server
	// and this process have detached, even if the agent is killed.
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	if err != nil {
		_ = unix.SysvShmDetach(mem)
		return fmt.Errorf("attach shared memory in the X server: %w", err)
	}
	c.w, c.h, c.seg, c.shmid, c.mem = w, h, seg, id, mem
	return nil
}

func (c *Capture) detach() {
	if c.mem == nil {
		return
	}
	_ = shm.DetachChecked(c.conn, c.seg).Check()
	_ = unix.SysvShmDetach(c.mem)
	c.mem = nil
}

// events turns X events into the Changed and Resized signals.
func (c *Capture) events() {
	defer close(c.done)
	for {
		ev, err := c.conn.WaitForEvent()
		if ev == nil && err == nil {
			return // connection closed
		}
		switch e := ev.(type) {
		case damage.NotifyEvent:
			notify(c.changed)
		case randr.ScreenChangeNotifyEvent:
			notify(c.resized)
			notify(c.changed)
		case xfixes.CursorNotifyEvent:
			c.onCursor(e)
		}
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Changed receives when the screen changed since the last Grab.
func (c *Capture) Changed() <-chan struct{} { return c.changed }

// Resized receives when the screen's size changed.
func (c *Capture) Resized() <-chan struct{} { return c.resized }

// Size is the size of the last Grab (or of the screen when opened).
func (c *Capture) Size() (w, h int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w, c.h
}

// ErrClosed is returned by Grab after Close.
var ErrClosed = errors.New("capture closed")

// Grab captures the whole screen. Damage is cleared before the capture, so
// a change made while grabbing is signalled again and never lost.
func (c *Capture) Grab() (Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Frame{}, ErrClosed
	}
	if err := c.attach(); err != nil {
		return Frame{}, err
	}
	if err := damage.SubtractChecked(c.conn, c.damage, 0, 0).Check(); err != nil {
		return Frame{}, fmt.Errorf("clear damage: %w", err)
	}
	_, err := shm.GetImage(c.conn, xproto.Drawable(c.root), 0, 0, uint16(c.w), uint16(c.h),
		0xffffffff, xproto.ImageFormatZPixmap, c.seg, 0).Reply()
	if err != nil {
		// The screen may have shrunk between attach and GetImage.
		return Frame{}, fmt.Errorf("grab %dx%d: %w", c.w, c.h, err)
	}
	return Frame{Pix: c.mem, Width: c.w, Height: c.h, Stride: c.w * 4, ShmID: c.shmid}, nil
}

// Close releases the shared memory and the connection. It returns once
// the connection's reader has stopped: xgb's extensions keep their event
// decoders in a map shared by every connection, which the next
// connection's Init writes to while a reader still running would read it.
func (c *Capture) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.detach()
	c.conn.Close()
	c.mu.Unlock()
	<-c.done
	return nil
}
