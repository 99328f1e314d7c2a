package desktop

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
)

// Cursor is the pointer's look: a CSS keyword when the app named its
// cursor, else the cursor's image (Chromium without a cursor theme uses
// unnamed core cursors) as a PNG with its hotspot.
type Cursor struct {
	CSS        string
	PNG        []byte
	HotX, HotY int
}

// maxCursorSide bounds cursor images: browsers ignore larger ones.
const maxCursorSide = 128

// The viewer draws the pointer itself, from a CSS cursor name: no cursor
// in the video means no cursor lagging a round trip behind the hand.
// Apps name their cursors (Chromium uses Xcursor names, CSS-like or
// legacy X ones); XFIXES reports the name with each change.

// cssCursor maps an X cursor name to a CSS cursor keyword; unknown names
// are the default arrow.
func cssCursor(name string) string {
	switch name {
	case "", "left_ptr", "default", "arrow", "top_left_arrow":
		return "default"
	case "xterm", "text", "ibeam":
		return "text"
	case "hand1", "hand2", "pointer", "pointing_hand":
		return "pointer"
	case "watch", "wait":
		return "wait"
	case "left_ptr_watch", "progress", "half-busy":
		return "progress"
	case "crosshair", "cross", "tcross":
		return "crosshair"
	case "fleur", "move", "all-scroll", "size_all":
		return "move"
	case "grab", "openhand":
		return "grab"
	case "grabbing", "closedhand", "dnd-move":
		return "grabbing"
	case "sb_h_double_arrow", "ew-resize", "col-resize", "split_h", "size_hor":
		return "ew-resize"
	case "sb_v_double_arrow", "ns-resize", "row-resize", "split_v", "size_ver":
		return "ns-resize"
	case "top_side", "n-resize":
		return "n-resize"
	case "bottom_side", "s-resize":
		return "s-resize"
	case "left_side", "w-resize":
		return "w-resize"
	case "right_side", "e-resize":
		return "e-resize"
	case "top_left_corner", "nw-resize":
		return "nw-resize"
	case "top_right_corner", "ne-resize":
		return "ne-resize"
	case "bottom_left_corner", "sw-resize":
		return "sw-resize"
	case "bottom_right_corner", "se-resize":
		return "se-resize"
	case "nwse-resize", "size_fdiag":
		return "nwse-resize"
	case "nesw-resize", "size_bdiag":
		return "nesw-resize"
	case "question_arrow", "help", "whats_this":
		return "help"
	case "not-allowed", "crossed_circle", "forbidden", "no-drop", "circle":
		return "not-allowed"
	case "context-menu":
		return "context-menu"
	case "cell", "plus":
		return "cell"
	case "copy", "dnd-copy":
		return "copy"
	case "alias", "link", "dnd-link":
		return "alias"
	case "vertical-text":
		return "vertical-text"
	case "zoom-in":
		return "zoom-in"
	case "zoom-out":
		return "zoom-out"
	case "none":
		return "none"
	}
	return "default"
}

// watchCursor asks for cursor change events on the root window.
func (c *Capture) watchCursor() error {
	return xfixes.SelectCursorInputChecked(c.conn, c.root, xfixes.CursorNotifyMaskDisplayCursor).Check()
}

// onCursor turns a cursor change into a Cursor for Cursor().
func (c *Capture) onCursor(ev xfixes.CursorNotifyEvent) {
	cur := Cursor{CSS: "default"}
	name := ""
	if ev.Name != 0 {
		if r, err := xproto.GetAtomName(c.conn, ev.Name).Reply(); err == nil {
			name = r.Name
		}
	}
	if name != "" {
		cur.CSS = cssCursor(name)
	} else if img, err := xfixes.GetCursorImage(c.conn).Reply(); err == nil {
		if b, ok := c.cursorPNG(img); ok {
			cur = Cursor{PNG: b, HotX: int(img.Xhot), HotY: int(img.Yhot)}
		}
	}
	select { // only the latest matters
	case <-c.cursor:
	default:
	}
	c.cursor <- cur
}

// cursorPNG encodes a cursor image, remembering the last few by serial:
// a page's pointer flips between the same two or three cursors.
func (c *Capture) cursorPNG(img *xfixes.GetCursorImageReply) ([]byte, bool) {
	w, h := int(img.Width), int(img.Height)
	if w == 0 || h == 0 || w > maxCursorSide || h > maxCursorSide || len(img.CursorImage) < w*h {
		return nil, false
	}
	if b, ok := c.cursorCache[img.CursorSerial]; ok {
		return b, true
	}
	rgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, p := range img.CursorImage[:w*h] {
		// XFIXES gives premultiplied ARGB; PNG wants straight alpha.
		a := uint8(p >> 24)
		r, g, b := uint8(p>>16), uint8(p>>8), uint8(p)
		if a != 0 && a != 255 {
			r, g, b = uint8(uint32(r)*255/uint32(a)), uint8(uint32(g)*255/uint32(a)), uint8(uint32(b)*255/uint32(a))
		}
		rgba.SetNRGBA(i%w, i/w, color.NRGBA{R: r, G: g, B: b, A: a})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, rgba); err != nil {
		return nil, false
	}
	if len(c.cursorCache) >= 16 {
		clear(c.cursorCache)
	}
	c.cursorCache[img.CursorSerial] = buf.Bytes()
	return buf.Bytes(), true
}

// Cursor receives the pointer's cursor when it changes.
func (c *Capture) Cursor() <-chan Cursor { return c.cursor }
