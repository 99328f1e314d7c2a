package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// arm is an isolation level's arm whose clicks took clickMS each, whose
// launches took launch and whose windows showed fps.
func arm(level string, clickMS float64, launch time.Duration, fps float64) *isoArm {
	a := &isoArm{level: level}
	for range 4 {
		a.clicks = append(a.clicks, clickSample{photon: clickMS})
		a.launches = append(a.launches, launch)
		a.windows = append(a.windows, streamWindow{video: videoRate{fps: fps}})
	}
	return a
}

func TestReportIsolation(t *testing.T) {
	o := options{isoClicks: 10, clickWarmup: 2, isoWindow: 5 * time.Second}
	tests := []struct {
		name       string
		r          isoResult
		want, miss []string
	}{
		{"skipped", isoResult{skipped: "no node offers hardened"},
			[]string{"BENCH stream-isolation result=SKIP", `reason="no node offers hardened"`}, []string{"ratio"}},
		{"hardened within targets, no sandbox", isoResult{rounds: 2, noSandbox: "no runsc", arms: []*isoArm{
			arm(levelStandard, 40, 300*time.Millisecond, 50), arm(levelHardened, 42, 330*time.Millisecond, 48)}},
			[]string{"hardened_click_p50_ratio=1.05", "hardened_fps_ratio=0.96", "hardened_launch_ratio=1.10", "sandboxed=skipped",
				"targets=hardened_click:PASS,hardened_fps:PASS result=PASS"}, []string{"sandboxed_launch_ratio"}},
		{"hardened slower clicks, sandbox against hardened", isoResult{rounds: 1, arms: []*isoArm{
			arm(levelStandard, 40, 300*time.Millisecond, 50), arm(levelHardened, 50, 300*time.Millisecond, 44),
			arm(levelSandboxed, 75, 600*time.Millisecond, 22)}},
			[]string{"hardened_click_p50_ratio=1.25", "hardened_fps_ratio=0.88", "sandboxed_launch_ratio=2.00", "sandboxed_click_p50_ratio=1.50",
				"sandboxed_fps_ratio=0.50", "targets=hardened_click:MISS,hardened_fps:MISS result=MISS"}, []string{"sandboxed=skipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := reportIsolation(io.Discard, o, tc.r)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("BENCH line lacks %q:\n%s", w, line)
				}
			}
			for _, m := range tc.miss {
				if strings.Contains(line, m) {
					t.Errorf("BENCH line has %q:\n%s", m, line)
				}
			}
		})
	}
}
