package desktop

import (
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
)

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

// onCursor turns a cursor change into a CSS name for Cursor.
func (c *Capture) onCursor(ev xfixes.CursorNotifyEvent) {
	name := ""
	if ev.Name != 0 {
		if r, err := xproto.GetAtomName(c.conn, ev.Name).Reply(); err == nil {
			name = r.Name
		}
	}
	css := cssCursor(name)
	select { // only the latest matters
	case <-c.cursor:
	default:
	}
	c.cursor <- css
}

// Cursor receives the CSS name of the pointer's cursor when it changes.
func (c *Capture) Cursor() <-chan string { return c.cursor }
