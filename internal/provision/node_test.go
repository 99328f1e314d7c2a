package provision

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/pki"
)

func uniqueName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// plant creates and starts a container directly on the socket, without
// Airlock's labels: the node must not see it.
func (h *harness) plant(t *testing.T) (id, name string) {
	t.Helper()
	ctx := context.Background()
	name = uniqueName(t, "planted")
	c, err := h.socket.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage}, nil, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	if err := h.socket.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c.ID, name
}

func TestDockerCLILifecycle(t *testing.T) {
	h := startNode(t)
	name := uniqueName(t, "life")
	net := h.sessionNetwork(t)
	id := h.mustDocker(t, "create", "--name", name, "--network", net, dockertest.TestImage)
	t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}) })
	h.mustDocker(t, "start", name)

	// The process prints a line once it runs; wait for it (bounded).
	var logs string
	for i := 0; i < 100 && !strings.Contains(logs, "ready"); i++ {
		logs = h.mustDocker(t, "logs", name)
		if !strings.Contains(logs, "ready") {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !strings.Contains(logs, "airlock testapp ready") {
		t.Fatalf("logs through the node: %q", logs)
	}
	if ps := h.mustDocker(t, "ps", "--format", "{{.Names}}"); !strings.Contains(ps, name) {
		t.Fatalf("docker ps through the node does not show %s: %q", name, ps)
	}
	var inspected []container.InspectResponse
	if err := json.Unmarshal([]byte(h.mustDocker(t, "inspect", name)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	hc := inspected[0].HostConfig
	if inspected[0].Config.Labels[dockerpolicy.LabelManaged] != "true" {
		t.Errorf("managed label missing: %v", inspected[0].Config.Labels)
	}
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Contains(hc.SecurityOpt, "no-new-privileges=true") ||
		hc.Memory != 512<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 512 {
		t.Errorf("floor not applied: drop %v secopt %v memory %d pids %v", hc.CapDrop, hc.SecurityOpt, hc.Memory, hc.PidsLimit)
	}
	h.mustDocker(t, "stop", "-t", "5", name)
	if logs := h.mustDocker(t, "logs", name); !strings.Contains(logs, "stopping on terminated") {
		t.Errorf("container did not stop on SIGTERM: %q", logs)
	}
	h.mustDocker(t, "rm", name)
	if _, err := h.socket.ContainerInspect(context.Background(), id); err == nil {
		t.Fatal("container still exists after docker rm through the node")
	}
}

func TestPlantedContainerIsInvisible(t *testing.T) {
	h := startNode(t)
	id, name := h.plant(t)
	for _, ref := range []string{name, id, id[:12]} {
		for _, args := range [][]string{
			{"container", "inspect", ref},
			{"start", ref},
			{"stop", ref},
			{"kill", ref},
			{"logs", ref},
			{"rm", "-f", ref},
		} {
			// "rm -f" exits 0 on a missing container; its message still says so.
			out, err := h.docker(t, args...)
			if (err == nil && args[0] != "rm") || !strings.Contains(out, "No such container") {
				t.Errorf("docker %s: err %v, output %q; want No such container", strings.Join(args, " "), err, out)
			}
		}
	}
	ps := h.mustDocker(t, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
	if strings.Contains(ps, id) || strings.Contains(ps, name) {
		t.Errorf("docker ps -a shows the planted container: %q", ps)
	}
	// A client's own filter cannot widen the view.
	ps = h.mustDocker(t, "ps", "-a", "--filter", "name="+name, "--filter", "label=x")
	if strings.Contains(ps, name) {
		t.Errorf("filtered ps shows the planted container: %q", ps)
	}
	c, err := h.socket.ContainerInspect(context.Background(), id)
	if err != nil || !c.State.Running {
		t.Fatalf("planted container was touched through the node: %v %+v", err, c.State)
	}
}

func TestDockerCLIRefusals(t *testing.T) {
	h := startNode(t)
	name := uniqueName(t, "target")
	id := h.mustDocker(t, "create", "--name", name, "--network", "none", dockertest.TestImage)
	t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}) })
	h.mustDocker(t, "start", name)
	img := dockertest.TestImage
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"privileged", []string{"run", "-d", "--privileged", img}, "privileged containers are not allowed"},
		{"bind-mount", []string{"run", "-d", "-v", "/:/host", img}, "bind mounts"},
		{"mount-bind", []string{"run", "-d", "--mount", "type=bind,src=/etc,dst=/etc2", img}, "mount type \"bind\""},
		{"volume-device", []string{"run", "-d", "--mount", "type=volume,dst=/x,volume-opt=device=/,volume-opt=o=bind,volume-opt=type=none", img}, "volume driver options"},
		{"cap-sys-admin", []string{"run", "-d", "--cap-add", "SYS_ADMIN", img}, "CAP_SYS_ADMIN"},
		{"seccomp-unconfined", []string{"run", "-d", "--security-opt", "seccomp=unconfined", img}, "seccomp=unconfined"},
		{"apparmor-unconfined", []string{"run", "-d", "--security-opt", "apparmor=unconfined", img}, "AppArmor"},
		{"pid-host", []string{"run", "-d", "--pid", "host", img}, "PID mode"},
		{"network-host", []string{"run", "-d", "--network", "host", img}, "network mode \"host\""},
		{"device", []string{"run", "-d", "--device", "/dev/null:/dev/x", img}, "devices are not allowed"},
		{"sysctl", []string{"run", "-d", "--sysctl", "net.ipv4.ip_forward=1", img}, "sysctls"},
		{"publish", []string{"run", "-d", "-p", "8080:80", img}, "publishing ports"},
		{"image-not-allowed", []string{"create", "alpine:3"}, "allow-list"},
		{"exec", []string{"exec", name, "/testapp"}, "not an allowed operation"},
		{"cp", []string{"cp", name + ":/testapp", filepath.Join(t.TempDir(), "x")}, "not an allowed operation"},
		{"commit", []string{"commit", name}, "not an allowed operation"},
		{"export", []string{"export", "-o", filepath.Join(t.TempDir(), "x.tar"), name}, "not an allowed operation"},
		{"volume-ls", []string{"volume", "ls"}, "not an allowed operation"},
		{"image-rm", []string{"image", "rm", img}, "not an allowed operation"},
		{"pull", []string{"pull", "alpine:3"}, "not an allowed operation"},
		{"system-df", []string{"system", "df"}, "not an allowed operation"},
		{"update", []string{"update", "--memory", "1g", name}, "not an allowed operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.docker(t, tc.args...)
			if err == nil {
				t.Fatalf("docker %v succeeded: %q", tc.args, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("docker %v: output %q does not say %q", tc.args, out, tc.want)
			}
		})
	}
	// The refusals left nothing behind.
	list, err := h.socket.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", dockerpolicy.LabelManaged+"=true"), filters.Arg("ancestor", img))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.ID != id && strings.Contains(c.Names[0], "target") {
			t.Errorf("unexpected container %v", c.Names)
		}
	}
}

func TestTLSRefusedAtHandshake(t *testing.T) {
	h := startNode(t)
	other, err := pki.InitCA(filepath.Join(h.dir, "other-ca"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(ca *pki.CA, req pki.IssueRequest, name string) string {
		dir := filepath.Join(h.dir, name)
		b, err := ca.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := pki.WriteBundle(dir, b); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	infra := write(h.ca, pki.IssueRequest{Role: pki.RoleInfra, Name: "infra"}, "infra")
	agent := write(h.ca, pki.IssueRequest{Role: pki.RoleAgent, Name: "agent"}, "agent")
	prov := write(h.ca, pki.IssueRequest{Role: pki.RoleProvision, Name: "127.0.0.1"}, "prov")
	foreign := write(other, pki.IssueRequest{Role: pki.RoleAdmin, Name: "admin"}, "foreign")
	past := *h.ca
	past.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	expired := write(&past, pki.IssueRequest{Role: pki.RoleAdmin, Name: "old", TTL: time.Hour}, "expired")

	nodeCA, err := pki.ClientTLSConfig(h.adminDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		certDir string // "" for no client certificate
		ok      bool
	}{
		{"ok/admin", h.adminDir, true},
		{"ok/infra", infra, true},
		{"fail/no-certificate", "", false},
		{"fail/other-ca", foreign, false},
		{"fail/expired", expired, false},
		{"fail/agent-role", agent, false},
		{"fail/provision-role", prov, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: nodeCA.RootCAs, MinVersion: tls.VersionTLS13}
			if tc.certDir != "" {
				c, err := pki.ClientTLSConfig(tc.certDir)
				if err != nil {
					t.Fatal(err)
				}
				// Send the certificate whatever CA the server names, so the
				// server, not the client, makes the decision.
				cert := c.Certificates[0]
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			}
			conn, err := tls.Dial("tcp", h.addr, cfg)
			if err == nil {
				// TLS 1.3 reports a refused client certificate on first read.
				fmt.Fprintf(conn, "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
				buf := make([]byte, 64)
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				var n int
				n, err = conn.Read(buf)
				if err == nil && !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
					err = fmt.Errorf("unexpected answer %q", buf[:n])
				}
				conn.Close()
			}
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("served a client it should refuse at the handshake")
			}
			if !tc.ok && !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("refused, but not by TLS: %v", err)
			}
		})
	}
}

func TestBodyFraming(t *testing.T) {
	h := startNode(t)
	c := h.httpClient(t, h.adminDir)
	url := "https://" + h.addr + "/v1.41/containers/create"
	privileged := `{"Image":"` + dockertest.TestImage + `","HostConfig":{"Privileged":true}}`
	huge := `{"Image":"` + dockertest.TestImage + `","Env":["` + strings.Repeat("A", 2<<20) + `"]}`
	for _, tc := range []struct {
		name    string
		body    io.Reader
		length  int64 // -1: chunked
		want    int
		message string
	}{
		{"chunked-privileged", strings.NewReader(privileged), -1, 403, "privileged"},
		{"length-privileged", strings.NewReader(privileged), int64(len(privileged)), 403, "privileged"},
		{"chunked-oversized", strings.NewReader(huge), -1, 413, "larger than 1 MiB"},
		{"length-oversized", strings.NewReader(huge), int64(len(huge)), 413, "larger than 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", url, io.NopCloser(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tc.length
			if tc.length < 0 {
				req.TransferEncoding = []string{"chunked"}
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Message string }
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("refusal is not Docker's error JSON: %v", err)
			}
			if resp.StatusCode != tc.want || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, e.Message, tc.want, tc.message)
			}
		})
	}
}

func TestListsAndEventsAreFiltered(t *testing.T) {
	h := startNode(t)
	ctx := context.Background()
	cli := h.sdk(t)
	since := time.Now()
	mine, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage}, &container.HostConfig{NetworkMode: "none"}, nil, nil, uniqueName(t, "mine"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), mine.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, mine.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	planted, _ := h.plant(t)
	until := time.Now().Add(time.Second)

	list, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if !slices.Contains(ids, mine.ID) || slices.Contains(ids, planted) {
		t.Fatalf("list through the node: %v (mine %s, planted %s)", ids, mine.ID, planted)
	}

	evCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, errs := cli.Events(evCtx, events.ListOptions{Since: fmt.Sprint(since.Unix()), Until: fmt.Sprint(until.Unix() + 1)})
	seen := map[string]bool{}
	for done := false; !done; {
		select {
		case m := <-msgs:
			seen[m.Actor.ID] = true
		case err := <-errs:
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			done = true
		}
	}
	if !seen[mine.ID] || seen[planted] {
		t.Fatalf("events through the node: saw mine %v, planted %v", seen[mine.ID], seen[planted])
	}

	images, err := cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || !slices.Contains(images[0].RepoTags, dockertest.TestImage) {
		t.Fatalf("image list through the node shows %d images, want only the allowed one", len(images))
	}
}

func TestMetricsCountRefusals(t *testing.T) {
	h := startNode(t)
	if out, err := h.docker(t, "run", "-d", "--privileged", dockertest.TestImage); err == nil {
		t.Fatalf("privileged run succeeded: %s", out)
	}
	h.mustDocker(t, "version")
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var refused, allowed, latency float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "airlock_provision_refused_total":
				if m.GetLabel()[0].GetValue() == "privileged" {
					refused = m.GetCounter().GetValue()
				}
			case "airlock_provision_allowed_total":
				allowed += m.GetCounter().GetValue()
			case "airlock_provision_upstream_seconds":
				latency += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if refused != 1 || allowed == 0 || latency == 0 {
		t.Fatalf("metrics: refused{privileged}=%v allowed=%v upstream samples=%v", refused, allowed, latency)
	}
	// The same refusal, as reported to the api's audit log.
	evs := h.refused()
	if len(evs) != 1 {
		t.Fatalf("OnRefused got %d events, want the one refusal: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Action != airlock.NodeProvisionRefused || !strings.HasSuffix(ev.Target, "/containers/create") ||
		!strings.HasPrefix(ev.Target, "POST ") || !strings.Contains(ev.Detail, "privileged") || ev.Client == "" || ev.Time.IsZero() {
		t.Fatalf("refusal event %+v: want provision.refused of POST …/containers/create by the admin client, rule privileged", ev)
	}
}

func TestHTTP2Refused(t *testing.T) {
	h := startNode(t)
	c, err := pki.ClientTLSConfig(h.adminDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fail/alpn-h2-only", func(t *testing.T) {
		cfg := c.Clone()
		cfg.NextProtos = []string{"h2"}
		conn, err := tls.Dial("tcp", h.addr, cfg)
		if err == nil {
			state := conn.ConnectionState()
			conn.Close()
			if state.NegotiatedProtocol == "h2" {
				t.Fatal("node negotiated HTTP/2")
			}
			t.Fatalf("handshake accepted a client that speaks only h2 (negotiated %q)", state.NegotiatedProtocol)
		}
	})
	t.Run("fail/prior-knowledge-preface", func(t *testing.T) {
		conn, err := tls.Dial("tcp", h.addr, c)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 256)
		n, _ := conn.Read(buf)
		if strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") || strings.Contains(string(buf[:n]), "\x00\x00") {
			t.Fatalf("node answered an HTTP/2 preface: %q", buf[:n])
		}
	})
}
