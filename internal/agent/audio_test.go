package agent

import (
	"context"
	"slices"
	"testing"
)

func TestAudioOn(t *testing.T) {
	for _, tt := range []struct {
		v       string
		on, bad bool
	}{
		{"", true, false}, {"on", true, false}, {"off", false, false},
		{"yes", false, true}, {"ON", false, true}, {"0", false, true},
	} {
		on, err := AudioOn(tt.v)
		if on != tt.on || (err != nil) != tt.bad {
			t.Errorf("AudioOn(%q) = %v, %v; want %v, error %v", tt.v, on, err, tt.on, tt.bad)
		}
	}
}

// TestAudioEnv: Chromium is pointed at the session's sound server only
// when the session has sound.
func TestAudioEnv(t *testing.T) {
	const want = "PULSE_SERVER=unix:/tmp/airlock/pulse/native"
	for _, on := range []bool{true, false} {
		cmd, err := appCommand(context.Background(), ":0", DesktopConfig{App: "chromium", StartURL: "about:blank", Width: 800, Height: 600, Audio: on})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(cmd.Env, want); got != on {
			t.Errorf("audio %v: env has %s: %v (%q)", on, want, got, cmd.Env)
		}
	}
}
