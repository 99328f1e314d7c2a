package main

import "testing"

func TestIsChromium(t *testing.T) {
	for _, tc := range []struct {
		name             string
		cycles, chromium int
		first, gap       int // the first Chromium cycle, and every gap-th after (0: none)
	}{
		{"default", 500, 50, 9, 10},
		{"none", 500, 0, -1, 0},
		{"all", 7, 7, 0, 1},
		{"one", 20, 1, 19, 0},
		{"half", 10, 5, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for i := range tc.cycles {
				if isChromium(i, tc.cycles, tc.chromium) {
					got = append(got, i)
				}
			}
			if len(got) != tc.chromium {
				t.Fatalf("%d Chromium cycles of %d, want %d: %v", len(got), tc.cycles, tc.chromium, got)
			}
			for k, i := range got {
				if want := tc.first + k*tc.gap; i != want {
					t.Fatalf("Chromium cycle %d is cycle %d, want %d: %v", k, i, want, got)
				}
			}
		})
	}
}
