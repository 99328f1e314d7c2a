package dockerpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

const (
	testImageID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	otherImage  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	c1          = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
	rootImage   = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	n2          = "n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2n2"
	n3          = "n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3n3"
	n1          = "n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1n1"
)

// fakeLookup is an in-memory daemon: the policy is pure logic, the real
// lookups are tested against dockerd in the provision package.
type fakeLookup struct{}

func (fakeLookup) ImageID(_ context.Context, ref string) (string, error) {
	switch ref {
	case "airlock/test:latest", "airlock/test", testImageID, "docker.io/airlock/test:latest":
		return testImageID, nil
	case "busybox", "busybox:latest", otherImage:
		return otherImage, nil
	case "airlock/rootimg", rootImage:
		return rootImage, nil
	}
	return "", ErrNotFound
}

func (fakeLookup) ContainerID(_ context.Context, ref string) (string, error) {
	if ref == "web" || strings.HasPrefix(c1, ref) && len(ref) >= 4 {
		return c1, nil
	}
	return "", ErrNotFound
}

func (fakeLookup) NetworkID(_ context.Context, ref string) (string, error) {
	switch ref {
	case "sessnet", n1:
		return n1, nil
	case "busynet", n2:
		return n2, nil
	case "sandnet", n3:
		return n3, nil
	}
	return "", ErrNotFound
}

func (l fakeLookup) Network(ctx context.Context, ref string) (NetworkInfo, error) {
	switch ref {
	case "busynet", n2:
		return NetworkInfo{ID: n2, Labels: map[string]string{LabelIsolation: "standard"}, Containers: 1}, nil
	case "sandnet", n3:
		return NetworkInfo{ID: n3, Labels: map[string]string{LabelIsolation: "sandboxed"}, Subnet: netip.MustParsePrefix("10.213.0.16/28")}, nil
	}
	id, err := l.NetworkID(ctx, ref)
	if err != nil {
		return NetworkInfo{}, err
	}
	return NetworkInfo{ID: id, Labels: map[string]string{LabelIsolation: "standard"}}, nil
}

// fakeSubnets are the daemon's networks: docker0 and the first session
// subnet of the default pool.
var fakeSubnets = []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16"), netip.MustParsePrefix("10.213.0.0/28")}

func (fakeLookup) Subnets(context.Context) ([]netip.Prefix, error) { return fakeSubnets, nil }

func (fakeLookup) ImageUser(_ context.Context, id string) (string, error) {
	if id == testImageID {
		return "1000:1000", nil
	}
	return "", nil
}

type failingLookup struct{ fakeLookup }

func (failingLookup) ContainerID(context.Context, string) (string, error) {
	return "", errors.New("socket gone")
}

const testProfile = `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}`

func testEngine(t testing.TB) *Engine {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chromium.json"), []byte(testProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte("images: [airlock/test:latest]\nseccomp_profiles: [chromium.json]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, fakeLookup{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type tcase struct {
	name   string
	method string
	path   string
	query  string
	header map[string]string
	body   string
	// want is the status of a refusal, or 0 for an approved request.
	want int
	// rule is the refusing rule, for refusals.
	rule string
	// check inspects an approved decision.
	check func(t *testing.T, d *Decision)
}

func run(t *testing.T, e *Engine, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "ok/") != (tc.want == 0) {
				t.Fatalf("case name %q does not match want %d", tc.name, tc.want)
			}
			h := http.Header{}
			if tc.body != "" {
				h.Set("Content-Type", "application/json")
			}
			for k, v := range tc.header {
				if v == "" {
					h.Del(k)
				} else {
					h.Set(k, v)
				}
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			d, err := e.Check(context.Background(), &Request{Method: method, ProtoMajor: 1, Path: tc.path, RawQuery: tc.query, Header: h, Body: []byte(tc.body)})
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, d)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("got decision %+v, err %v; want refusal %d", d, err, tc.want)
			}
			if r.Status != tc.want || (tc.rule != "" && r.Rule != tc.rule) {
				t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.Rule, r.Msg, tc.want, tc.rule)
			}
			if r.Msg == "" {
				t.Fatal("refusal without a message")
			}
		})
	}
}

// create builds a container create body from the test image and the given
// HostConfig JSON.
// create is a create body of the test image on session network sessnet,
// with hostConfig's fields (a JSON object) unless it names a NetworkMode.
func create(hostConfig string) string {
	if hostConfig == "" {
		hostConfig = "{}"
	}
	if !strings.Contains(hostConfig, `"NetworkMode"`) {
		hostConfig = `{"NetworkMode":"sessnet",` + strings.TrimPrefix(hostConfig, "{")
		hostConfig = strings.Replace(hostConfig, ",}", "}", 1)
	}
	return `{"Image":"airlock/test:latest","HostConfig":` + hostConfig + `}`
}

func approvedCreate(t *testing.T, d *Decision) container.CreateRequest {
	t.Helper()
	var req container.CreateRequest
	if err := json.Unmarshal(d.Body, &req); err != nil {
		t.Fatalf("approved body does not decode: %v", err)
	}
	return req
}

func pathIs(want string) func(*testing.T, *Decision) {
	return func(t *testing.T, d *Decision) {
		t.Helper()
		if d.Path != want {
			t.Fatalf("forwarded path %q, want %q", d.Path, want)
		}
	}
}

func TestPolicyRoutes(t *testing.T) {
	e := testEngine(t)
	G, D := http.MethodGet, http.MethodDelete
	run(t, e, []tcase{
		{name: "ok/ping", method: G, path: "/_ping", check: pathIs("/_ping")},
		{name: "ok/ping-head", method: http.MethodHead, path: "/_ping", check: pathIs("/_ping")},
		{name: "ok/version-prefixed", method: G, path: "/v1.41/version", check: pathIs("/version")},
		{name: "ok/info-old-prefix", method: G, path: "/v1.24/info", check: pathIs("/info")},
		{name: "ok/list-doubled-slash", method: G, path: "//containers//json", check: pathIs("/containers/json")},
		{name: "ok/list-trailing-slash", method: G, path: "/v1.41/containers/json/", query: "all=1", check: pathIs("/containers/json")},
		{name: "ok/start-by-name", path: "/v1.41/containers/web/start", check: pathIs("/containers/" + c1 + "/start")},
		{name: "ok/start-by-short-id", path: "/containers/c1c1c1c1/start", check: pathIs("/containers/" + c1 + "/start")},
		{name: "ok/start-leading-slash-name", path: "/containers//web/start", check: pathIs("/containers/" + c1 + "/start")},
		{name: "ok/stop-with-timeout", path: "/containers/web/stop", query: "t=5", check: pathIs("/containers/" + c1 + "/stop")},
		{name: "ok/kill-signal", path: "/containers/web/kill", query: "signal=SIGTERM", check: pathIs("/containers/" + c1 + "/kill")},
		{name: "ok/restart", path: "/containers/web/restart", check: pathIs("/containers/" + c1 + "/restart")},
		{name: "ok/wait", path: "/containers/web/wait", query: "condition=next-exit", check: pathIs("/containers/" + c1 + "/wait")},
		{name: "ok/remove-force", method: D, path: "/containers/web", query: "force=1&v=1", check: pathIs("/containers/" + c1)},
		{name: "ok/inspect", method: G, path: "/containers/web/json", check: pathIs("/containers/" + c1 + "/json")},
		{name: "ok/inspect-dot-segment", method: G, path: "/containers/x/../web/json", check: pathIs("/containers/" + c1 + "/json")},
		{name: "ok/logs", method: G, path: "/containers/web/logs", query: "stdout=1&stderr=1&tail=all", check: pathIs("/containers/" + c1 + "/logs")},
		{name: "ok/events", method: G, path: "/events", query: `filters={"type":["container"]}`, check: pathIs("/events")},
		{name: "ok/networks", method: G, path: "/networks", check: pathIs("/networks")},
		{name: "ok/network-inspect", method: G, path: "/networks/sessnet", check: pathIs("/networks/" + n1)},
		{name: "ok/network-remove", method: D, path: "/networks/sessnet", check: pathIs("/networks/" + n1)},
		{name: "ok/network-create", path: "/networks/create", body: `{"Name":"sess-1","Internal":true}`, check: pathIs("/networks/create")},
		{name: "ok/network-connect", path: "/networks/sessnet/connect", body: `{"Container":"web"}`, check: pathIs("/networks/" + n1 + "/connect")},
		{name: "ok/network-disconnect", path: "/networks/sessnet/disconnect", body: `{"Container":"web","Force":true}`, check: pathIs("/networks/" + n1 + "/disconnect")},
		{name: "ok/images", method: G, path: "/images/json", check: pathIs("/images/json")},
		{name: "ok/image-inspect-slash-name", method: G, path: "/images/airlock/test:latest/json", check: pathIs("/images/" + testImageID + "/json")},

		{name: "fail/exec-create", path: "/containers/web/exec", body: `{"Cmd":["sh"]}`, want: 403, rule: "route"},
		{name: "fail/exec-prefixed", path: "/v1.41/containers/web/exec", body: `{"Cmd":["sh"]}`, want: 403, rule: "route"},
		{name: "fail/exec-doubled-slash", path: "/v1.41//containers//web//exec", want: 403, rule: "route"},
		{name: "fail/exec-dot-segment", path: "/containers/web/json/../exec", want: 403, rule: "route"},
		{name: "fail/exec-trailing-slash", path: "/containers/web/exec/", want: 403, rule: "route"},
		{name: "fail/exec-start", path: "/exec/abc/start", want: 403, rule: "route"},
		{name: "fail/exec-percent-decoded", path: "/containers/web/\u0065xec", want: 403, rule: "route"},
		{name: "fail/attach", path: "/containers/web/attach", query: "stream=1", want: 403, rule: "route"},
		{name: "fail/attach-ws", method: G, path: "/containers/web/attach/ws", want: 403, rule: "route"},
		{name: "fail/archive-put", method: http.MethodPut, path: "/containers/web/archive", query: "path=/", want: 403, rule: "route"},
		{name: "fail/archive-get", method: G, path: "/containers/web/archive", want: 403, rule: "route"},
		{name: "fail/copy-legacy", path: "/containers/web/copy", want: 403, rule: "route"},
		{name: "fail/export", method: G, path: "/containers/web/export", want: 403, rule: "route"},
		{name: "fail/update", path: "/containers/web/update", body: `{"Memory":0}`, want: 403, rule: "route"},
		{name: "fail/build", path: "/build", want: 403, rule: "route"},
		{name: "fail/pull", path: "/images/create", query: "fromImage=alpine", want: 403, rule: "route"},
		{name: "fail/push", path: "/images/airlock/test/push", want: 403, rule: "route"},
		{name: "fail/commit", path: "/commit", query: "container=web", want: 403, rule: "route"},
		{name: "fail/image-delete", method: D, path: "/images/airlock/test:latest", want: 403, rule: "route"},
		{name: "fail/image-load", path: "/images/load", want: 403, rule: "route"},
		{name: "fail/plugins", method: G, path: "/plugins", want: 403, rule: "route"},
		{name: "fail/plugin-pull", path: "/plugins/pull", want: 403, rule: "route"},
		{name: "fail/volumes", method: G, path: "/volumes", want: 403, rule: "route"},
		{name: "fail/volume-create", path: "/volumes/create", body: `{"Name":"x"}`, want: 403, rule: "route"},
		{name: "fail/secrets", method: G, path: "/secrets", want: 403, rule: "route"},
		{name: "fail/configs", method: G, path: "/configs", want: 403, rule: "route"},
		{name: "fail/swarm-join", path: "/swarm/join", want: 403, rule: "route"},
		{name: "fail/swarm-leave", path: "/swarm/leave", want: 403, rule: "route"},
		{name: "fail/swarm-update", path: "/swarm/update", want: 403, rule: "route"},
		{name: "fail/system-prune", path: "/containers/prune", want: 403, rule: "route"},
		{name: "fail/system-df", method: G, path: "/system/df", want: 403, rule: "route"},
		{name: "fail/session", path: "/session", want: 403, rule: "route"},
		{name: "fail/grpc", path: "/grpc", want: 403, rule: "route"},
		{name: "fail/services-create", path: "/services/create", want: 403, rule: "route"},
		{name: "fail/double-version", method: G, path: "/v1.41/v1.41/info", want: 400, rule: "path"},
		{name: "fail/uppercase-version", method: G, path: "/V1.41/info", want: 403, rule: "route"},
		{name: "fail/wrong-method-start", method: G, path: "/containers/web/start", want: 403, rule: "route"},
		{name: "fail/relative-path", method: G, path: "info", want: 400, rule: "path"},
		{name: "fail/control-char", method: G, path: "/containers/we\x00b/json", want: 400, rule: "path"},
		{name: "fail/unknown-query", method: G, path: "/containers/json", query: "foo=1", want: 403, rule: "query"},
		{name: "fail/link-remove", method: D, path: "/containers/web", query: "link=1", want: 403, rule: "query"},
		{name: "fail/repeated-query", method: G, path: "/containers/json", query: "all=1&all=0", want: 400, rule: "query"},
		{name: "fail/bad-query-value", path: "/containers/web/stop", query: "t=soon", want: 400, rule: "query"},
		{name: "fail/bad-query-escape", method: G, path: "/containers/json", query: "all=%zz", want: 400, rule: "query"},
		{name: "fail/body-on-start", path: "/containers/web/start", body: `{"Privileged":true}`, want: 400, rule: "body"},
		{name: "fail/unknown-filter", method: G, path: "/containers/json", query: `filters={"foo":["x"]}`, want: 400, rule: "filters"},
		{name: "fail/bad-filter-json", method: G, path: "/containers/json", query: `filters={`, want: 400, rule: "filters"},

		{name: "fail/planted-container-start", path: "/containers/planted/start", want: 404, rule: "ownership"},
		{name: "fail/planted-container-inspect", method: G, path: "/v1.41/containers/planted/json", want: 404, rule: "ownership"},
		{name: "fail/planted-container-remove", method: D, path: "/containers/planted", want: 404, rule: "ownership"},
		{name: "fail/planted-container-logs", method: G, path: "/containers/planted/logs", want: 404, rule: "ownership"},
		{name: "fail/bad-container-ref", path: "/containers/..web/start", want: 404, rule: "ownership"},
		{name: "fail/foreign-network", method: G, path: "/networks/host", want: 404, rule: "ownership"},
		{name: "fail/connect-planted", path: "/networks/sessnet/connect", body: `{"Container":"planted"}`, want: 404, rule: "ownership"},
		{name: "fail/image-inspect-not-allowed", method: G, path: "/images/busybox/json", want: 404, rule: "image"},
	})
}

func TestPolicyFraming(t *testing.T) {
	e := testEngine(t)
	run(t, e, []tcase{
		{name: "ok/json-charset", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": "application/json; charset=utf-8"}},
		{name: "fail/upgrade-header", method: http.MethodGet, path: "/_ping", header: map[string]string{"Upgrade": "tcp"}, want: 403, rule: "upgrade"},
		{name: "fail/connection-upgrade", path: "/containers/web/start", header: map[string]string{"Connection": "keep-alive, Upgrade"}, want: 403, rule: "upgrade"},
		{name: "fail/grpc-content-type", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": "application/grpc"}, want: 403, rule: "protocol"},
		{name: "fail/no-content-type", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": ""}, want: 415, rule: "media-type"},
		{name: "fail/text-plain", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": "text/plain"}, want: 415, rule: "media-type"},
		{name: "fail/json-extra-param", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": "application/json; boundary=x"}, want: 415, rule: "media-type"},
		{name: "fail/json-latin1", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": "application/json; charset=latin1"}, want: 415, rule: "media-type"},
		{name: "fail/bad-media-type", path: "/containers/create", body: create(""), header: map[string]string{"Content-Type": "application/json;;="}, want: 415, rule: "media-type"},
		{name: "fail/oversized", path: "/containers/create", body: `{"Image":"airlock/test:latest","Env":["` + strings.Repeat("A", MaxBodyBytes) + `"]}`, want: 413, rule: "body-size"},
	})
	_, err := e.Check(context.Background(), &Request{Method: "GET", ProtoMajor: 2, Path: "/_ping", Header: http.Header{}})
	var r *Refusal
	if !errors.As(err, &r) || r.Rule != "protocol" {
		t.Fatalf("HTTP/2 request: got %v, want protocol refusal", err)
	}
}

func TestPolicyLookupErrorIsNotARefusal(t *testing.T) {
	cfg := &Config{Images: []string{"airlock/test:latest"}}
	e, err := New(cfg, failingLookup{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Check(context.Background(), &Request{Method: "POST", ProtoMajor: 1, Path: "/containers/web/start", Header: http.Header{}})
	var r *Refusal
	if err == nil || errors.As(err, &r) {
		t.Fatalf("got %v, want a lookup error that is not a refusal", err)
	}
}

func readFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	return string(b), err
}

func TestFoldKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"HostConfig", "hostconfig"}, {"HostConfig", "Hoſtconfig"}, {"NetworkMode", "Networ\u212aMode"}, {"Image", "IMAGE"},
	} {
		if foldKey(tc.a) != foldKey(tc.b) {
			t.Errorf("foldKey(%q) != foldKey(%q)", tc.a, tc.b)
		}
	}
	if foldKey("Image") == foldKey("Imagé") {
		t.Error("different letters folded together")
	}
}
