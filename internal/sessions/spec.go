package sessions

import (
	"encoding/json"
	"fmt"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// tmpSize bounds the /tmp tmpfs of session containers. The root is
// read-only, so /tmp is where Chromium keeps its profile and cache; a
// tmpfs holds only what is written to it, counted against the
// container's memory limit, so a large bound costs nothing by itself.
const tmpSize = "512m"

// KeptHome is where a session that its workspace keeps at expiry
// (on_expiry suspend) has an anonymous volume, and its agent the app's
// home (the browser's profile): the image's user's home, as Airlock's
// images make it (useradd airlock), whose contents and owner the new
// volume copies. Unlike /tmp it outlives a stop of the container, and
// it is on the node's disk, not bounded by the tmpfs size.
const KeptHome = "/home/airlock"

// ContainerSpec is the container of session sess of workspace ws,
// launched by viewer, registering with reg. It fails only when ws names a
// seccomp profile the service does not have, or has a browser policy too
// large to pass on.
func (s *Service) ContainerSpec(sess *airlock.Session, ws *airlock.Workspace, viewer airlock.Viewer, reg auth.Token) (airlock.ContainerSpec, error) {
	var securityOpt []string
	if ws.Seccomp != airlock.SeccompDefault {
		profile, ok := s.seccomp[ws.Seccomp]
		if !ok {
			return airlock.ContainerSpec{}, fmt.Errorf("container of session %s: workspace %s: seccomp profile %q is not one of this server's (%v)",
				sess.ID, ws.Name, ws.Seccomp, s.SeccompNames())
		}
		securityOpt = []string{"seccomp=" + string(profile)}
	}
	env := make([]string, 0, len(ws.Env)+6)
	for k, v := range ws.Env {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"AIRLOCK_SERVER="+s.agentURL,
		"AIRLOCK_SESSION="+sess.ID,
		"AIRLOCK_REGISTER_TOKEN="+reg.String(),
		"AIRLOCK_CA_PEM="+string(s.caPEM),
		"AIRLOCK_CLIPBOARD="+string(ws.Clipboard.OrDefault()),
	)
	if ws.StartURL != "" {
		env = append(env, "AIRLOCK_START_URL="+ws.StartURL)
	}
	var volumes []string
	if s.Limits(ws).OnExpiry == airlock.ExpireSuspend {
		volumes = []string{KeptHome}
		env = append(env, "AIRLOCK_KEPT_HOME="+KeptHome)
	}
	browser, err := browserEnv(ws, viewer)
	if err != nil {
		return airlock.ContainerSpec{}, fmt.Errorf("container of session %s: %w", sess.ID, err)
	}
	env = append(env, browser...)
	egress, err := egressLabel(ws)
	if err != nil {
		return airlock.ContainerSpec{}, fmt.Errorf("container of session %s: %w", sess.ID, err)
	}
	return airlock.ContainerSpec{
		Name:  sess.ContainerID,
		Image: ws.Image,
		Env:   env,
		Labels: map[string]string{
			airlock.LabelSession:   sess.ID,
			airlock.LabelWorkspace: ws.Name,
			airlock.LabelUser:      sess.UserID,
		},
		Isolation:   string(ws.Isolation),
		Egress:      egress,
		Runtime:     sessionRuntime(ws.Isolation),
		Memory:      ws.Memory,
		NanoCPUs:    ws.NanoCPUs,
		PidsLimit:   ws.PidsLimit,
		ShmSize:     ws.ShmSize,
		ExtraHosts:  s.extraHosts,
		Tmpfs:       map[string]string{"/tmp": "rw,nosuid,nodev,size=" + tmpSize},
		Volumes:     volumes,
		SecurityOpt: securityOpt,
	}, nil
}

// sandboxRuntime is the OCI runtime sandboxed sessions run under: gVisor's
// runsc, the one a node proves before it advertises sandboxed (see
// enroll.SandboxRuntime) and its policy requires on a sandboxed network.
const sandboxRuntime = "runsc"

// sessionRuntime is the runtime a session of level l asks for: runsc for
// sandboxed, else none (the daemon's default, runc).
func sessionRuntime(l airlock.Isolation) string {
	if l == airlock.IsolationSandboxed {
		return sandboxRuntime
	}
	return ""
}

// egressLabel is the policy of ws as the session network's airlock.egress
// label carries it, for the node's egress proxy and resolver: always an
// object with a rules list, the empty list meaning the defaults (the
// public internet, nothing private). A standard workspace has none: the
// node refuses the label on a standard network.
func egressLabel(ws *airlock.Workspace) (string, error) {
	if ws.Isolation == airlock.IsolationStandard || ws.Isolation == "" {
		return "", nil
	}
	rules := ws.Egress.Rules
	if rules == nil {
		rules = []airlock.EgressRule{}
	}
	b, err := json.Marshal(struct {
		Rules []airlock.EgressRule `json:"rules"`
	}{rules})
	if err != nil {
		return "", fmt.Errorf("egress policy of workspace %s: %w", ws.Name, err)
	}
	return string(b), nil
}
