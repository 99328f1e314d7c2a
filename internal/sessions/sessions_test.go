package sessions

import (
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// TestWarning: the warning window is a fifth of the shorter of the idle
// timeout and the lifetime, from 10 s to 5 min.
func TestWarning(t *testing.T) {
	for _, tc := range []struct {
		idle, life, want time.Duration
	}{
		{30 * time.Minute, 12 * time.Hour, 5 * time.Minute},
		{10 * time.Minute, 12 * time.Hour, 2 * time.Minute},
		{20 * time.Second, 10 * time.Minute, 10 * time.Second},
		{time.Hour, 15 * time.Minute, 3 * time.Minute},
	} {
		if got := Warning(airlock.Limits{Idle: tc.idle, Lifetime: tc.life}); got != tc.want {
			t.Errorf("Warning(idle %s, lifetime %s) = %s, want %s", tc.idle, tc.life, got, tc.want)
		}
	}
}

func TestContainerName(t *testing.T) {
	id := NewID()
	if len(id) != 32 || ContainerName(id) != "airlock-"+id || NewID() == id {
		t.Fatalf("ids %s, container name %s", id, ContainerName(id))
	}
}

func TestNodeSilence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		want  time.Duration
	}{
		{"ok/default round: two node heartbeats", 0, 20 * time.Second},
		{"ok/5s round: two node heartbeats", 5 * time.Second, 20 * time.Second},
		{"ok/10s round", 10 * time.Second, 30 * time.Second},
		{"ok/long round", 20 * time.Second, time.Minute},
		{"ok/short round floored", time.Second, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodeSilence(tc.every); got != tc.want {
				t.Fatalf("NodeSilence(%s) = %s, want %s", tc.every, got, tc.want)
			}
		})
	}
}
