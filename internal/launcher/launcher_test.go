package launcher

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/provisiontest"
)

func TestStartListRemove(t *testing.T) {
	node := provisiontest.Start(t, provisiontest.Options{})
	l := New(node.InfraTLS, onRecord(node), "test-deployment", nil)
	defer l.Close()
	ctx := context.Background()
	sid := "s-" + time.Now().Format("150405.000000")
	id, err := l.Start(ctx, node.URL, airlock.ContainerSpec{
		Name: "airlock-test-" + strings.ReplaceAll(sid, ".", ""), Image: dockertest.TestImage,
		Labels: map[string]string{airlock.LabelSession: sid}, Env: []string{"A=1"},
		Memory: 64 << 20, PidsLimit: 64, Tmpfs: map[string]string{"/tmp": "size=16m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Socket.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}) })
	got, err := node.Socket.ContainerInspect(ctx, id)
	if err != nil || !got.State.Running || !got.HostConfig.ReadonlyRootfs || got.HostConfig.Memory != 64<<20 {
		t.Fatalf("container: %v %+v", err, got.State)
	}
	addrs, err := l.Addresses(ctx, node.URL, id)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ep := range got.NetworkSettings.Networks {
		if ep.IPAddress != "" {
			want = append(want, ep.IPAddress)
		}
	}
	if len(want) == 0 || len(addrs) != len(want) || addrs[0].String() != want[0] {
		t.Fatalf("Addresses = %v, want the engine's %v", addrs, want)
	}
	cs, err := l.Containers(ctx, node.URL)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cs {
		found = found || (c.ID == id && c.SessionID == sid && c.State == "running")
	}
	if !found {
		t.Fatalf("Containers does not list %s: %+v", id, cs)
	}
	if err := l.Remove(ctx, node.URL, id, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Socket.ContainerInspect(ctx, id); err == nil {
		t.Fatal("container still exists after Remove")
	}
	if err := l.Remove(ctx, node.URL, id, time.Second); err != nil {
		t.Fatalf("removing a gone container: %v", err)
	}
}

// TestRemoveAtOnce: two removals of one session's container at once (a
// user's DELETE and the lifecycle jobs) both succeed; dockerd refuses the
// second while the first is in progress.
func TestRemoveAtOnce(t *testing.T) {
	node := provisiontest.Start(t, provisiontest.Options{})
	l := New(node.InfraTLS, onRecord(node), "test-deployment", nil)
	defer l.Close()
	ctx := context.Background()
	for round := range 5 {
		sid := fmt.Sprintf("s-%s-%d", time.Now().Format("150405.000000"), round)
		id, err := l.Start(ctx, node.URL, airlock.ContainerSpec{
			Name: "airlock-test-" + strings.ReplaceAll(sid, ".", ""), Image: dockertest.TestImage,
			Labels: map[string]string{airlock.LabelSession: sid}, Memory: 64 << 20, PidsLimit: 64,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Socket.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}) })
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = l.Remove(ctx, node.URL, id, 0) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, removal %d of 3 at once: %v", round, i, err)
			}
		}
		if _, err := node.Socket.ContainerInspect(ctx, id); err == nil {
			t.Fatalf("round %d: the container is still there", round)
		}
	}
}

func TestStartRefusedLeavesNothing(t *testing.T) {
	node := provisiontest.Start(t, provisiontest.Options{})
	l := New(node.InfraTLS, onRecord(node), "test-deployment", nil)
	defer l.Close()
	_, err := l.Start(context.Background(), node.URL, airlock.ContainerSpec{Name: "airlock-refused", Image: "alpine:3"})
	if err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Fatalf("start of a disallowed image: %v", err)
	}
}

// TestStartFailureRemovesContainer: a container that is created but fails
// to start (here a tmpfs option the kernel refuses) is removed again.
func TestStartFailureRemovesContainer(t *testing.T) {
	node := provisiontest.Start(t, provisiontest.Options{})
	l := New(node.InfraTLS, onRecord(node), "test-deployment", nil)
	defer l.Close()
	name := "airlock-startfail-" + time.Now().Format("150405000000")
	_, err := l.Start(context.Background(), node.URL, airlock.ContainerSpec{Name: name, Image: dockertest.TestImage,
		Labels: map[string]string{airlock.LabelSession: "startfail"}, Tmpfs: map[string]string{"/tmp": "size=not-a-size"}})
	if err == nil {
		node.Socket.ContainerRemove(context.Background(), name, container.RemoveOptions{Force: true})
		t.Fatal("start with a refused tmpfs option succeeded")
	}
	if !strings.Contains(err.Error(), "start container") {
		t.Fatalf("failed before the start: %v", err)
	}
	if _, ierr := node.Socket.ContainerInspect(context.Background(), name); ierr == nil {
		node.Socket.ContainerRemove(context.Background(), name, container.RemoveOptions{Force: true})
		t.Fatalf("container left behind after a failed start (%v)", err)
	}
}
