package stream

import (
	"context"
	"errors"
	"testing"
	"time"
)

type fakeClip struct {
	set     []string
	changes chan string
}

func (f *fakeClip) Set(_ context.Context, text string) error { f.set = append(f.set, text); return nil }
func (f *fakeClip) Changes() <-chan string                   { return f.changes }

// TestClipboardPolicy: each policy lets through exactly its directions.
func TestClipboardPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy     string
		in, fromOK bool
	}{
		{ClipboardOff, false, false},
		{ClipboardToContainer, true, false},
		{ClipboardFromContainer, false, true},
		{ClipboardBoth, true, true},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			clip := &fakeClip{changes: make(chan string, 1)}
			s, err := New(Config{Screen: &fakeScreen{changed: make(chan struct{})}, Encode: (&fakeEncoder{}).encode,
				Input: &fakeInput{}, Clipboard: clip, ClipboardPolicy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			err = s.toContainer("pasted")
			if tc.in != (err == nil) || tc.in != (len(clip.set) == 1) {
				t.Errorf("to container: err %v, set %q", err, clip.set)
			}
			if !tc.in && !errors.Is(err, errClipboardIn) {
				t.Errorf("refusal %v does not explain the policy", err)
			}
			// From the container: ForwardClipboard returns at once when
			// the policy forbids it, and otherwise reads the changes.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.ForwardClipboard(ctx); close(done) }()
			clip.changes <- "copied"
			time.Sleep(50 * time.Millisecond)
			read := len(clip.changes) == 0
			cancel()
			<-done
			if read != tc.fromOK {
				t.Errorf("from container: change read = %v, want %v", read, tc.fromOK)
			}
		})
	}
	if _, err := New(Config{Screen: &fakeScreen{}, Encode: (&fakeEncoder{}).encode, Input: &fakeInput{}, ClipboardPolicy: "sometimes"}); err == nil {
		t.Error("unknown clipboard policy accepted")
	}
}
