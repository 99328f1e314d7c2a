package stream

import (
	"context"
	"errors"
	"testing"
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
			if got := s.copyOutAllowed(); got != tc.fromOK {
				t.Errorf("from container allowed = %v, want %v", got, tc.fromOK)
			}
			// A pool's session handed out to a user of another policy
			// takes that one from then on.
			for _, next := range []string{ClipboardBoth, ClipboardOff} {
				if err := s.SetClipboardPolicy(next); err != nil {
					t.Fatal(err)
				}
				clip.set = nil
				err := s.toContainer("pasted")
				if want := next == ClipboardBoth; (err == nil) != want || s.copyOutAllowed() != want {
					t.Errorf("after SetClipboardPolicy(%s): paste err %v, copy out %v", next, err, s.copyOutAllowed())
				}
			}
		})
	}
	if err := (&Streamer{}).SetClipboardPolicy("sometimes"); err == nil {
		t.Error("SetClipboardPolicy accepted an unknown policy")
	}
	if _, err := New(Config{Screen: &fakeScreen{}, Encode: (&fakeEncoder{}).encode, Input: &fakeInput{}, ClipboardPolicy: "sometimes"}); err == nil {
		t.Error("unknown clipboard policy accepted")
	}
}
