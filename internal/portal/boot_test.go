package portal

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/internal/browsertest"
)

// TestBootRetriesCutModule: a module of the portal whose load is cut off
// (as a change of the device's networks does) no longer leaves the page
// at its spinner: it loads again and starts, and one that can never load
// says so after a few tries.
func TestBootRetriesCutModule(t *testing.T) {
	if testing.Short() {
		t.Skip("real browser: not in -short")
	}
	browser := browsertest.Chromium(t)
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name string
		cuts int // loads of viewer.js to cut off; -1: all
		want string
	}{
		{"ok/one load cut", 1, `!document.getElementById('view-login').hidden`},
		{"ok/two loads cut", 2, `!document.getElementById('view-login').hidden`},
		{"fail/every load cut", -1, `document.getElementById('boot').textContent.includes('could not load')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
				chromedp.ExecPath(browser), chromedp.NoSandbox)...)
			t.Cleanup(cancelA)
			ctx, cancel := chromedp.NewContext(actx)
			t.Cleanup(cancel)
			ctx, cancelT := context.WithTimeout(ctx, time.Minute)
			t.Cleanup(cancelT)
			var mu sync.Mutex
			loads := 0
			chromedp.ListenTarget(ctx, func(ev any) {
				e, ok := ev.(*fetch.EventRequestPaused)
				if !ok {
					return
				}
				mu.Lock()
				loads++
				cut := tt.cuts < 0 || loads <= tt.cuts
				mu.Unlock()
				go func() {
					exec := cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Target)
					if cut {
						_ = fetch.FailRequest(e.RequestID, network.ErrorReasonConnectionAborted).Do(exec)
					} else {
						_ = fetch.ContinueRequest(e.RequestID).Do(exec)
					}
				}()
			})
			err := chromedp.Run(ctx,
				fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/js/viewer.js"}}),
				network.SetCacheDisabled(true),
				chromedp.Navigate(srv.URL+"/"))
			if err != nil {
				t.Fatal(err)
			}
			// Polled from here: the page reloads itself meanwhile, which
			// ends an evaluation in flight.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				var ok bool
				if err := chromedp.Run(ctx, chromedp.Evaluate(tt.want, &ok)); err == nil && ok {
					break
				}
				if time.Now().After(deadline) {
					var text string
					_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body.innerText`, &text))
					t.Fatalf("the page did not get to %s; it shows %q", tt.want, strings.TrimSpace(text))
				}
			}
			// Settled: no reload is still to come.
			time.Sleep(1500 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if tt.cuts > 0 && loads != tt.cuts+1 {
				t.Errorf("viewer.js was asked for %d times, want %d", loads, tt.cuts+1)
			}
			if tt.cuts < 0 && loads != 4 {
				t.Errorf("viewer.js was asked for %d times before giving up, want 4 (the first load and 3 more)", loads)
			}
		})
	}
}
