package provision

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// TestLimitsHold runs a container through the node that tries to break
// out of what the node gives every container, asking for nothing: it runs
// as the image's non-root user and cannot become root, cannot write to
// its image, cannot fork past the pids limit and is killed when it eats
// past the memory limit.
func TestLimitsHold(t *testing.T) {
	h := startNode(t)
	cli := h.sdk(t)
	ctx := context.Background()
	const pids, memory = 32, 64 << 20
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage, Cmd: []string{"break"}},
		&container.HostConfig{NetworkMode: "none", ReadonlyRootfs: false,
			Resources: container.Resources{Memory: memory, PidsLimit: ptr(int64(pids))}}, nil, nil, uniqueName(t, "break"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	got := containerLines(t, h.socket, c.ID, "break done")
	line := func(key string) string {
		for _, l := range got {
			if v, ok := strings.CutPrefix(l, "break "+key+": "); ok {
				return v
			}
		}
		t.Fatalf("no %q line in %q", key, got)
		return ""
	}
	if v := line("uid"); v != "65534 euid: 65534" {
		t.Errorf("runs as %q, want the image's 65534", v)
	}
	if v := line("setuid0"); !strings.Contains(v, "operation not permitted") {
		t.Errorf("setuid(0): %q, want operation not permitted", v)
	}
	for _, p := range []string{"/airlock-was-here", "/etc/airlock-was-here"} {
		if v := line("write " + p); !strings.Contains(v, "read-only file system") {
			t.Errorf("write %s: %q, want read-only file system (the request asked for a writable root)", p, v)
		}
	}
	m := regexp.MustCompile(`^(\d+) then (.+)$`).FindStringSubmatch(line("forks"))
	if m == nil {
		t.Fatalf("forks line %q", line("forks"))
	}
	if n, _ := strconv.Atoi(m[1]); n >= pids || !strings.Contains(m[2], "resource temporarily unavailable") {
		t.Errorf("forked %s processes then %q: want fewer than the pids limit %d, then EAGAIN", m[1], m[2], pids)
	}
	if v := line("eat"); !strings.Contains(v, "signal: killed") {
		t.Errorf("eating memory past %d MiB: %q, want the child killed", memory>>20, v)
	} else if ate := strings.Fields(v[strings.Index(v, `"`)+1:]); len(ate) > 0 {
		if n, _ := strconv.Atoi(strings.Trim(ate[len(ate)-1], `"`)); n > memory>>20 {
			t.Errorf("the child touched %d MiB under a %d MiB limit", n, memory>>20)
		}
	}
}

func ptr[T any](v T) *T { return &v }
