package launcher

import (
	"context"
	"errors"
	"testing"
)

// TestRetryOverlap: a network create refused for a subnet another node
// took at the same moment is asked again, a few times; any other
// refusal is final at once.
func TestRetryOverlap(t *testing.T) {
	overlap := errors.New("Error response from daemon: Pool overlaps with other one on this address space")
	other := errors.New("Error response from daemon: network with name x already exists")
	for _, tc := range []struct {
		name    string
		fails   []error // the answers before success
		calls   int
		wantErr error
	}{
		{"first-time", nil, 1, nil},
		{"overlap-twice", []error{overlap, overlap}, 3, nil},
		{"other-error", []error{other}, 1, other},
		{"overlap-always", []error{overlap, overlap, overlap, overlap, overlap, overlap}, overlapTries, overlap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retryOverlap(context.Background(), func() error {
				calls++
				if calls <= len(tc.fails) {
					return tc.fails[calls-1]
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || calls != tc.calls {
				t.Fatalf("err %v after %d calls; want %v after %d", err, calls, tc.wantErr, tc.calls)
			}
		})
	}
}
