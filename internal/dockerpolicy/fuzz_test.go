package dockerpolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
)

// The fuzz targets below check the policy's invariants on arbitrary input.
// Their seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary
// tests under `go test`; `go test -fuzz` explores from there.

// dangerousSegments name Docker API areas that no request through the node
// may reach, whatever the rest of its path.
var dangerousSegments = []string{
	"exec", "attach", "archive", "build", "commit", "export", "session", "grpc",
	"swarm", "plugins", "volumes", "secrets", "configs",
}

// fuzzCheck runs Engine.Check and enforces what holds for every request with
// fakeLookup: the result is exactly one of a Decision or a *Refusal, and a
// refusal carries an error status and a message.
func fuzzCheck(t *testing.T, e *Engine, req *Request) (*Decision, *Refusal) {
	t.Helper()
	d, err := e.Check(context.Background(), req)
	if err == nil {
		if d == nil {
			t.Fatalf("%s %s: nil decision and nil error", req.Method, req.Path)
		}
		return d, nil
	}
	if d != nil {
		t.Fatalf("%s %s: decision %+v returned together with error %v", req.Method, req.Path, d, err)
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("%s %s: error %v (%T) is not a *Refusal; fakeLookup never fails", req.Method, req.Path, err, err)
	}
	if r.Status < 400 || r.Status > 499 || r.Rule == "" || r.Msg == "" {
		t.Fatalf("%s %s: malformed refusal %+v", req.Method, req.Path, r)
	}
	return nil, r
}

func FuzzNormalizePath(f *testing.F) {
	for _, p := range []string{
		"/_ping",
		"/v1.41/containers/web/exec",
		"/v1.41//containers//web//exec",
		"/containers/web/json/../exec",
		"/containers/x/../web/json",
		"/v1.41/",
		"/images/airlock/test:latest/json",
		"/./v1.41/./swarm/../swarm/join",
	} {
		f.Add(p)
	}
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, p string) {
		got, err := NormalizePath(p)
		if err != nil {
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("NormalizePath(%q): error %v is not a *Refusal", p, err)
			}
			if got != "" {
				t.Fatalf("NormalizePath(%q): result %q returned with error %v", p, got, err)
			}
			return
		}
		if !strings.HasPrefix(got, "/") {
			t.Errorf("NormalizePath(%q) = %q: not absolute", p, got)
		}
		if c := path.Clean(got); c != got {
			t.Errorf("NormalizePath(%q) = %q: not clean (path.Clean gives %q)", p, got, c)
		}
		for _, bad := range []string{"//", "/./", "/../"} {
			if strings.Contains(got, bad) {
				t.Errorf("NormalizePath(%q) = %q: contains %q", p, got, bad)
			}
		}
		if versionPrefix.MatchString(got) {
			t.Errorf("NormalizePath(%q) = %q: still has an API version prefix", p, got)
		}
		if again, err := NormalizePath(got); err != nil || again != got {
			t.Errorf("NormalizePath(%q) = %q, but NormalizePath(%q) = %q, %v: not idempotent", p, got, got, again, err)
		}

		dangerous := ""
		for _, seg := range splitPath(got) {
			if slices.Contains(dangerousSegments, seg) {
				dangerous = seg
				break
			}
		}
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
			for _, rp := range []string{p, got} {
				d, _ := fuzzCheck(t, e, &Request{Method: method, ProtoMajor: 1, Path: rp, Header: http.Header{}})
				if d == nil {
					continue
				}
				if dangerous != "" {
					t.Fatalf("%s %q (normalized %q, segment %q) was approved as %s -> %s", method, rp, got, dangerous, d.Op, d.Path)
				}
				for _, seg := range splitPath(d.Path) {
					if slices.Contains(dangerousSegments, seg) {
						t.Fatalf("%s %q was approved with forwarded path %q", method, rp, d.Path)
					}
				}
			}
		}
	})
}

func FuzzCreateBody(f *testing.F) {
	for _, b := range []string{
		`{"Image":"airlock/test:latest"}`,
		`{"Image":"airlock/test:latest","HostConfig":{"Privileged":true}}`,
		`{"Image":"airlock/test:latest","HostConfig":{},"Hoſtconfig":{"Privileged":true}}`,
		`{"Image":"airlock/test:latest","HostConfig":{"CapAdd":["chown","CAP_SETUID","setuid"],"CapDrop":["NET_RAW"]}}`,
		`{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"NetworkingConfig":{"EndpointsConfig":{"sessnet":{"Aliases":["x"]}}}}`,
		`{"Image":"airlock/test:latest"}{"HostConfig":{"Privileged":true}}`,
	} {
		f.Add([]byte(b))
	}
	e := testEngine(f)
	const maxMemory = 16 << 30
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(b []byte) (*Decision, *Refusal) {
			h := http.Header{}
			h.Set("Content-Type", "application/json")
			return fuzzCheck(t, e, &Request{Method: http.MethodPost, ProtoMajor: 1, Path: "/containers/create", Header: h, Body: b})
		}
		d, _ := check(body)
		if d == nil {
			return
		}
		if d.Op != "container.create" || d.Path != "/containers/create" {
			t.Fatalf("approved as %s %s", d.Op, d.Path)
		}
		var req container.CreateRequest
		if err := json.Unmarshal(d.Body, &req); err != nil {
			t.Fatalf("approved body %s does not decode: %v", d.Body, err)
		}
		if req.Config == nil || req.Image != testImageID {
			t.Errorf("image not resolved to the allowed ID: %+v", req.Config)
		} else if req.Labels[LabelManaged] != "true" {
			t.Errorf("managed label missing: %v", req.Labels)
		}
		hc := req.HostConfig
		if hc == nil {
			t.Fatalf("approved body has no HostConfig: %s", d.Body)
		}
		if hc.Privileged {
			t.Error("privileged container approved")
		}
		if !slices.Equal(hc.CapDrop, []string{"ALL"}) {
			t.Errorf("CapDrop %q, want [ALL]", hc.CapDrop)
		}
		for _, c := range hc.CapAdd {
			if !slices.Contains(DefaultCapabilities, c) {
				t.Errorf("CapAdd %q is not on the node's list", c)
			}
		}
		if !slices.Contains(hc.SecurityOpt, "no-new-privileges=true") {
			t.Errorf("no-new-privileges missing: %q", hc.SecurityOpt)
		}
		for _, opt := range hc.SecurityOpt {
			lo := strings.ToLower(opt)
			for _, bad := range []string{"unconfined", "label", "systempaths"} {
				if strings.Contains(lo, bad) {
					t.Errorf("SecurityOpt %q approved", opt)
				}
			}
		}
		switch {
		case len(hc.Binds) > 0:
			t.Errorf("Binds approved: %q", hc.Binds)
		case len(hc.VolumesFrom) > 0:
			t.Errorf("VolumesFrom approved: %q", hc.VolumesFrom)
		case len(hc.Devices) > 0:
			t.Errorf("Devices approved: %+v", hc.Devices)
		case len(hc.DeviceRequests) > 0:
			t.Errorf("DeviceRequests approved: %+v", hc.DeviceRequests)
		case len(hc.DeviceCgroupRules) > 0:
			t.Errorf("DeviceCgroupRules approved: %q", hc.DeviceCgroupRules)
		case len(hc.Sysctls) > 0:
			t.Errorf("Sysctls approved: %v", hc.Sysctls)
		}
		for i, m := range hc.Mounts {
			if m.Type == mount.TypeBind || m.BindOptions != nil {
				t.Errorf("Mounts[%d] is a bind mount: %+v", i, m)
			}
		}
		for name, mode := range map[string]string{
			"NetworkMode": string(hc.NetworkMode), "PidMode": string(hc.PidMode), "IpcMode": string(hc.IpcMode),
			"UTSMode": string(hc.UTSMode), "UsernsMode": string(hc.UsernsMode), "CgroupnsMode": string(hc.CgroupnsMode),
		} {
			if mode == "host" || strings.HasPrefix(mode, "container:") {
				t.Errorf("%s %q approved", name, mode)
			}
		}
		if hc.CgroupParent != "" {
			t.Errorf("CgroupParent %q approved", hc.CgroupParent)
		}
		if wd := path.Clean(req.WorkingDir); req.WorkingDir != "" && (wd == "/proc" || strings.HasPrefix(wd, "/proc/") || !strings.HasPrefix(wd, "/")) {
			t.Errorf("WorkingDir %q approved", req.WorkingDir)
		}
		if hc.Memory <= 0 || hc.Memory > maxMemory {
			t.Errorf("Memory %d outside (0, 16 GiB]", hc.Memory)
		}
		if hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
			t.Errorf("PidsLimit %v not positive", hc.PidsLimit)
		}
		if t.Failed() {
			t.Fatalf("input %q\napproved as %s", body, d.Body)
		}

		// The floor is idempotent: what the node forwards is itself approved
		// and forwarded unchanged. MaxBodyBytes bounds what a client sends,
		// not the re-serialized form (json.Marshal escapes "<" as six bytes),
		// so a body that grew past it cannot be fed back.
		if len(d.Body) > MaxBodyBytes {
			return
		}
		d2, r := check(d.Body)
		if d2 == nil {
			t.Fatalf("input %q\napproved as %s\nwhich is then refused: %v", body, d.Body, r)
		}
		if !bytes.Equal(d2.Body, d.Body) {
			t.Fatalf("input %q\napproved as %s\nwhich is then rewritten to %s", body, d.Body, d2.Body)
		}
	})
}

func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		"",
		"all=1&limit=10",
		`filters={"label":["airlock.session=s1"]}`,
		`filters={"label":{"airlock.managed=false":true}}`,
		`filters={"foo":["x"]}`,
	} {
		f.Add(q)
	}
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, raw string) {
		d, _ := fuzzCheck(t, e, &Request{Method: http.MethodGet, ProtoMajor: 1, Path: "/containers/json", RawQuery: raw, Header: http.Header{}})
		if d == nil {
			return
		}
		if d.Path != "/containers/json" || d.Filter != FilterContainers {
			t.Fatalf("query %q approved as %s filter %d", raw, d.Path, d.Filter)
		}
		for k, vs := range d.Query {
			if _, ok := containerLs[k]; !ok || len(vs) != 1 {
				t.Fatalf("query %q forwards parameter %q = %q", raw, k, vs)
			}
		}
		args, err := filters.FromJSON(d.Query.Get("filters"))
		if err != nil {
			t.Fatalf("query %q forwards filters %q that do not parse: %v", raw, d.Query.Get("filters"), err)
		}
		if !slices.Contains(args.Get("label"), LabelManaged+"=true") {
			t.Fatalf("query %q forwards filters %q without the managed label", raw, d.Query.Get("filters"))
		}
	})
}
