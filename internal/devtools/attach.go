package devtools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chromedp/cdproto/target"
)

// Session is a flattened session on one target.
type Session struct {
	Conn *Conn
	ID   string
	// TargetID and Type are the target's ("page", "iframe", "worker"...).
	TargetID string
	Type     string
}

// Call sends method to the session's target.
func (s Session) Call(ctx context.Context, method string, params, result any) error {
	return s.Conn.Call(ctx, s.ID, method, params, result)
}

// AttachFunc prepares a newly attached target before it runs (it is
// paused until then): it enables what the agent needs on it.
type AttachFunc func(ctx context.Context, s Session) error

// AutoAttach attaches to every target of the browser, those open now and
// those opened later, and to the out-of-process frames inside pages, each
// on a flattened session. Each new target waits, paused, until fn has
// prepared it, so that no page runs a script before, say, its file
// chooser is intercepted. fn's error is passed to onErr (the target is
// resumed all the same: a page stuck in the debugger is worse).
func (c *Conn) AutoAttach(ctx context.Context, fn AttachFunc, onErr func(Session, error)) error {
	c.On("Target.attachedToTarget", func(ctx context.Context, e Event) {
		var ev target.EventAttachedToTarget
		if err := json.Unmarshal(e.Params, &ev); err != nil || ev.TargetInfo == nil || ev.SessionID == "" {
			onErr(Session{Conn: c, ID: e.SessionID}, fmt.Errorf("devtools: Target.attachedToTarget: malformed: %s", truncate(e.Params, 200)))
			return
		}
		s := Session{Conn: c, ID: string(ev.SessionID), TargetID: string(ev.TargetInfo.TargetID), Type: ev.TargetInfo.Type}
		// Handlers run one at a time: prepare each target in its own
		// goroutine, so that a target slow to answer holds up no other.
		go func() {
			if s.Type == "page" || s.Type == "iframe" {
				if err := fn(ctx, s); err != nil {
					onErr(s, err)
				}
				// Frames of other sites in this page run in their own
				// targets: attach to those too.
				if err := s.Call(ctx, "Target.setAutoAttach", autoAttach, nil); err != nil {
					onErr(s, err)
				}
			}
			if ev.WaitingForDebugger {
				if err := s.Call(ctx, "Runtime.runIfWaitingForDebugger", nil, nil); err != nil {
					onErr(s, err)
				}
			}
		}()
	})
	if err := c.Call(ctx, "", "Target.setAutoAttach", autoAttach, nil); err != nil {
		return err
	}
	return nil
}

var autoAttach = map[string]any{"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
