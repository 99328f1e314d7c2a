package desktop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
)

// Clipboard is the display's CLIPBOARD selection. Owner changes come from
// XFIXES, so nothing polls; the text itself moves through xclip, which
// knows the selection protocol's corners (INCR transfers, targets) and,
// when setting, stays behind as the selection's owner.
type Clipboard struct {
	display string
	runner  Runner
	conn    *xgb.Conn
	atom    xproto.Atom // CLIPBOARD
	changes chan string

	mu     sync.Mutex
	recent []string // what Set wrote lately, so it is not echoed back as a change
}

// OpenClipboard watches display's clipboard.
func OpenClipboard(display string, runner Runner) (*Clipboard, error) {
	if runner == nil {
		runner = ExecRunner{}
	}
	if _, err := exec.LookPath("xclip"); err != nil {
		return nil, fmt.Errorf("clipboard: xclip is not installed: %w", err)
	}
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("clipboard: connect to %s: %w", display, err)
	}
	c := &Clipboard{display: display, runner: runner, conn: conn, changes: make(chan string, 1)}
	if err := c.watch(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clipboard on %s: %w", display, err)
	}
	return c, nil
}

func (c *Clipboard) watch() error {
	if err := xfixes.Init(c.conn); err != nil {
		return fmt.Errorf("XFIXES: %w", err)
	}
	if _, err := xfixes.QueryVersion(c.conn, 5, 0).Reply(); err != nil {
		return fmt.Errorf("XFIXES version: %w", err)
	}
	atom, err := xproto.InternAtom(c.conn, false, uint16(len("CLIPBOARD")), "CLIPBOARD").Reply()
	if err != nil {
		return fmt.Errorf("CLIPBOARD atom: %w", err)
	}
	c.atom = atom.Atom
	root := xproto.Setup(c.conn).DefaultScreen(c.conn).Root
	if err := xfixes.SelectSelectionInputChecked(c.conn, root, atom.Atom, xfixes.SelectionEventMaskSetSelectionOwner).Check(); err != nil {
		return fmt.Errorf("watch CLIPBOARD: %w", err)
	}
	go c.events()
	return nil
}

func (c *Clipboard) events() {
	for {
		ev, err := c.conn.WaitForEvent()
		if ev == nil && err == nil {
			close(c.changes)
			return
		}
		if _, ok := ev.(xfixes.SelectionNotifyEvent); !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		text, gerr := c.get(ctx)
		cancel()
		if gerr != nil {
			continue // an owner that does not offer text (an image): nothing to send
		}
		c.mu.Lock()
		echo := slices.Contains(c.recent, text)
		c.mu.Unlock()
		if echo {
			continue
		}
		// Only the latest text matters: replace an unread one.
		select {
		case <-c.changes:
		default:
		}
		c.changes <- text
	}
}

// Changes receives the clipboard's text when an app sets it.
func (c *Clipboard) Changes() <-chan string { return c.changes }

// Set makes text the clipboard's content.
func (c *Clipboard) Set(ctx context.Context, text string) error {
	c.mu.Lock()
	// Owner-change events trail the Sets that cause them, so remember a
	// few texts, not only the last.
	c.recent = append(c.recent, text)
	if len(c.recent) > 4 {
		c.recent = c.recent[1:]
	}
	c.mu.Unlock()
	cmd := exec.CommandContext(ctx, "xclip", "-display", c.display, "-selection", "clipboard", "-in")
	cmd.Stdin = strings.NewReader(text)
	// xclip forks a child that stays to own the selection (the agent's
	// reaper collects it when it is replaced). That child would hold a
	// captured stderr's pipe open and Wait would never return, so its
	// messages go to the agent's own stderr.
	cmd.Stderr = os.Stderr
	before := c.owner()
	if err := c.runner.Start(cmd); err != nil {
		return fmt.Errorf("set clipboard: %w", err)
	}
	if err := c.runner.Wait(cmd); err != nil {
		return fmt.Errorf("set clipboard: %w", err)
	}
	// xclip's child takes the selection after its parent has exited; an
	// app pasting right now must get the new text, so wait for the owner
	// to change.
	for c.owner() == before {
		select {
		case <-ctx.Done():
			return fmt.Errorf("set clipboard: xclip did not take the selection: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// owner is the window owning CLIPBOARD now (0: none, or unknown).
func (c *Clipboard) owner() xproto.Window {
	r, err := xproto.GetSelectionOwner(c.conn, c.atom).Reply()
	if err != nil {
		return 0
	}
	return r.Owner
}

func (c *Clipboard) get(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "xclip", "-display", c.display, "-selection", "clipboard", "-out", "-target", "UTF8_STRING")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := c.runner.Start(cmd); err != nil {
		return "", fmt.Errorf("read clipboard: %w", err)
	}
	if err := c.runner.Wait(cmd); err != nil {
		return "", fmt.Errorf("read clipboard: %w: %s", err, bytes.TrimSpace(errOut.Bytes()))
	}
	return out.String(), nil
}

// Close stops watching.
func (c *Clipboard) Close() error {
	c.conn.Close()
	return nil
}
