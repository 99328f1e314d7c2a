package dockertest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// WaitInterfacesQuiet waits until the host's network interfaces (names,
// flags, addresses) have not changed for quiet, at most within. A
// session's new network makes interfaces appear and settle over seconds,
// and a browser on this host aborts the page loads and requests in
// flight on any such change (ERR_NETWORK_CHANGED): a browser test or
// bench that loads a page right after a launch waits for this first.
func WaitInterfacesQuiet(ctx context.Context, quiet, within time.Duration) error {
	snapshot := func() (string, error) {
		ifs, err := net.Interfaces()
		if err != nil {
			return "", fmt.Errorf("list interfaces: %w", err)
		}
		var b strings.Builder
		for _, i := range ifs {
			addrs, _ := i.Addrs()
			fmt.Fprintf(&b, "%s %v %v;", i.Name, i.Flags, addrs)
		}
		return b.String(), nil
	}
	last, err := snapshot()
	if err != nil {
		return err
	}
	since := time.Now()
	for deadline := time.Now().Add(within); time.Since(since) < quiet; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		now, err := snapshot()
		if err != nil {
			return err
		}
		if now != last {
			last, since = now, time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the host's network interfaces kept changing for %s", within)
		}
	}
	return nil
}
