package enroll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// SandboxRuntime is the OCI runtime the sandboxed level runs under:
// gVisor's runsc, which puts a user-space kernel between the workspace and
// the host's (registered with dockerd by scripts/ensure-gvisor.sh).
const SandboxRuntime = "runsc"

// Dropped is an isolation level a node was asked to advertise but cannot
// deliver, and why.
type Dropped struct {
	Level, Why string
}

// Deliverable keeps the levels of want this node can prove it delivers.
// standard always: dockerd's default runtime with the policy's floor and
// the session network rules every level has. hardened only when the node
// proved its host rules and egress proxy are in place (hardened is nil;
// otherwise it says why not). sandboxed needs all of hardened and gVisor:
// dockerd has SandboxRuntime configured (dockerRuntimes, from `docker
// info`), the node's own policy lets containers name it (policyRuntimes),
// and a probe container really ran inside gVisor (sandbox, ProveSandbox's
// result, nil when it passed); without any of them the node would run, or
// refuse, such a session. An unknown level is an error, not a drop: it is
// a typo to fix, not a capability to probe.
func Deliverable(want []string, dockerRuntimes map[string]bool, policyRuntimes []string, hardened, sandbox error) (keep []string, dropped []Dropped, err error) {
	for _, l := range want {
		if slices.Contains(keep, l) || slices.ContainsFunc(dropped, func(d Dropped) bool { return d.Level == l }) {
			continue
		}
		switch l {
		case "standard":
		case "hardened":
			if hardened != nil {
				dropped = append(dropped, Dropped{l, fmt.Sprintf("the node's host rules and egress proxy are not proved in place: %v", hardened)})
				continue
			}
		case "sandboxed":
			if why := sandboxMissing(dockerRuntimes, policyRuntimes, hardened, sandbox); why != "" {
				dropped = append(dropped, Dropped{l, why})
				continue
			}
		default:
			return nil, nil, fmt.Errorf("isolation %q is not one of standard, hardened, sandboxed", l)
		}
		keep = append(keep, l)
	}
	return keep, dropped, nil
}

// sandboxMissing says what sandboxed lacks, in the order an operator fixes
// it, or "" when nothing does.
func sandboxMissing(dockerRuntimes map[string]bool, policyRuntimes []string, hardened, sandbox error) string {
	switch {
	case hardened != nil:
		return fmt.Sprintf("sandboxed includes hardened, whose host rules and egress proxy are not proved in place: %v", hardened)
	case !dockerRuntimes[SandboxRuntime]:
		return fmt.Sprintf("the Docker daemon has no %s runtime configured (docker info: Runtimes); run scripts/ensure-gvisor.sh (make sandboxed), which builds gVisor and adds it to daemon.json", SandboxRuntime)
	case !slices.Contains(policyRuntimes, SandboxRuntime):
		return fmt.Sprintf("the node's policy does not allow the %s runtime; add it to runtimes in the policy file", SandboxRuntime)
	case sandbox != nil:
		return fmt.Sprintf("the %s runtime did not prove it runs containers inside gVisor: %v", SandboxRuntime, sandbox)
	}
	return ""
}

// DockerRuntimes asks the Docker daemon behind the unix socket which OCI
// runtimes it has configured.
func DockerRuntimes(ctx context.Context, socket string) (map[string]bool, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/info", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("docker info on %s: %w", socket, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("docker info on %s: %w", socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("docker info on %s: status %d: %s", socket, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var info struct {
		Runtimes map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("docker info on %s: %w", socket, err)
	}
	out := make(map[string]bool, len(info.Runtimes))
	for name := range info.Runtimes {
		out[name] = true
	}
	return out, nil
}
