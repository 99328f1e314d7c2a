package dockerpolicy

import (
	"slices"
	"strings"
	"testing"
)

func TestPolicyCreate(t *testing.T) {
	e := testEngine(t)
	const P = "/v1.41/containers/create"
	profileOpt := func(p string) string {
		return `{"SecurityOpt":["seccomp=` + strings.ReplaceAll(p, `"`, `\"`) + `"]}`
	}
	run(t, e, []tcase{
		{name: "ok/minimal-gets-floor", path: P, body: create(""), check: func(t *testing.T, d *Decision) {
			req := approvedCreate(t, d)
			hc := req.HostConfig
			if req.Image != testImageID {
				t.Errorf("image %q not resolved to ID", req.Image)
			}
			if req.Labels[LabelManaged] != "true" {
				t.Errorf("managed label missing: %v", req.Labels)
			}
			if !slices.Equal(hc.CapDrop, []string{"ALL"}) || len(hc.CapAdd) != 0 {
				t.Errorf("caps: drop %v add %v", hc.CapDrop, hc.CapAdd)
			}
			if !slices.Contains(hc.SecurityOpt, "no-new-privileges=true") {
				t.Errorf("no-new-privileges missing: %v", hc.SecurityOpt)
			}
			if hc.Memory != 512<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 512 {
				t.Errorf("limits: memory %d pids %v", hc.Memory, hc.PidsLimit)
			}
			if !hc.ReadonlyRootfs {
				t.Error("root filesystem left writable")
			}
		}},
		{name: "ok/name-and-platform", path: P, query: "name=sess-1&platform=linux/amd64", body: create("")},
		{name: "ok/image-by-id", path: P, body: `{"Image":"` + testImageID + `","HostConfig":{"NetworkMode":"sessnet"}}`},
		{name: "ok/full-cli-shape", path: P, body: `{"Hostname":"","User":"1000:1000","Env":["A=1"],"Cmd":["run"],"Image":"airlock/test:latest","Volumes":{"/data":{}},"Labels":{"airlock.session":"s1","a":"1","A":"2"},"HostConfig":{"Binds":null,"NetworkMode":"sessnet","PortBindings":{},"RestartPolicy":{"Name":"no"},"CapAdd":null,"CapDrop":null,"Privileged":false,"ReadonlyRootfs":true,"Tmpfs":{"/tmp":"rw,size=64m"},"ShmSize":67108864,"Memory":268435456,"PidsLimit":100,"Devices":[],"MaskedPaths":null,"ReadonlyPaths":null,"Mounts":[{"Type":"tmpfs","Target":"/run"}]},"NetworkingConfig":{"EndpointsConfig":{"sessnet":{"Aliases":["x"]}}}}`,
			check: func(t *testing.T, d *Decision) {
				req := approvedCreate(t, d)
				if string(req.HostConfig.NetworkMode) != n1 || req.NetworkingConfig.EndpointsConfig[n1] == nil {
					t.Errorf("networks not resolved: %v %v", req.HostConfig.NetworkMode, req.NetworkingConfig.EndpointsConfig)
				}
				if req.HostConfig.Memory != 268435456 || *req.HostConfig.PidsLimit != 100 {
					t.Errorf("requested limits not kept")
				}
			}},
		{name: "ok/caps-normalized", path: P, body: create(`{"CapAdd":["chown","CAP_SETUID","setuid"],"CapDrop":["NET_RAW"]}`), check: func(t *testing.T, d *Decision) {
			hc := approvedCreate(t, d).HostConfig
			if !slices.Equal(hc.CapAdd, []string{"CAP_CHOWN", "CAP_SETUID"}) || !slices.Equal(hc.CapDrop, []string{"ALL"}) {
				t.Errorf("caps: add %v drop %v", hc.CapAdd, hc.CapDrop)
			}
		}},
		{name: "ok/allowed-seccomp-by-content", path: P, body: create(profileOpt(`{ "syscalls": [{"action":"SCMP_ACT_ALLOW","names":["read","write"]}], "defaultAction": "SCMP_ACT_ERRNO" }`))},
		{name: "ok/nnp-colon-form", path: P, body: create(`{"SecurityOpt":["no-new-privileges:true","apparmor=docker-default"]}`)},
		{name: "ok/case-folded-keys", path: P, body: `{"image":"airlock/test:latest","hostconfig":{"memory":1048576000,"networkmode":"sessnet"}}`, check: func(t *testing.T, d *Decision) {
			if approvedCreate(t, d).HostConfig.Memory != 1048576000 {
				t.Error("folded key not read as dockerd would")
			}
		}},
		{name: "ok/unicode-fold-key", path: P, body: `{"Image":"airlock/test:latest","Hoſtconfig":{"Memory":1048576,"NetworkMode":"sessnet"}}`, check: func(t *testing.T, d *Decision) {
			if approvedCreate(t, d).HostConfig.Memory != 1048576 {
				t.Error("ſ-folded key not read as HostConfig")
			}
		}},
		{name: "ok/anonymous-volume", path: P, body: create(`{"Mounts":[{"Type":"volume","Target":"/data"}]}`)},
		{name: "ok/user-network-mode", path: P, body: create(`{"NetworkMode":"sessnet"}`), check: func(t *testing.T, d *Decision) {
			if string(approvedCreate(t, d).HostConfig.NetworkMode) != n1 {
				t.Error("network mode not resolved to ID")
			}
		}},
		{name: "ok/runc-runtime", path: P, body: create(`{"Runtime":"runc","IpcMode":"private","CgroupnsMode":"private"}`)},
		{name: "ok/log-json-file", path: P, body: create(`{"LogConfig":{"Type":"json-file","Config":{"max-size":"10m"}}}`)},

		{name: "ok/working-dir", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/home/user"}`},
		{name: "ok/working-dir-cleaned", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"//srv/./app/../app/"}`, check: func(t *testing.T, d *Decision) {
			if wd := approvedCreate(t, d).WorkingDir; wd != "/srv/app" {
				t.Errorf("WorkingDir forwarded as %q, want the cleaned /srv/app", wd)
			}
		}},
		{name: "ok/working-dir-procfs-lookalike", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/procfs/x"}`},
		{name: "ok/working-dir-nested-proc", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/srv/proc/self"}`},
		{name: "ok/working-dir-dotdot-out-of-proc", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/proc/../srv"}`},

		// WorkingDir under /proc: the runc escape of CVE-2024-21626.
		{name: "fail/working-dir-proc-self-fd", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/proc/self/fd/7"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-proc", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/proc"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-proc-slash", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/proc/"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-double-slash", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"//proc/self/fd/7"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-dotdot", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/proc/../proc/self/cwd"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-dot", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/./proc/1/cwd"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-climb-from-root", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/../../proc/self/fd/8"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-from-elsewhere", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/tmp/../proc/self/fd/9"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-case-folded-key", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"workingdir":"/proc/self/fd/7"}`, want: 403, rule: "working-dir"},
		{name: "fail/working-dir-relative", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"proc/self/fd/7"}`, want: 400, rule: "working-dir"},
		{name: "fail/working-dir-relative-dot", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"./proc"}`, want: 400, rule: "working-dir"},
		{name: "fail/working-dir-relative-dotdot", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"../../proc/self/cwd"}`, want: 400, rule: "working-dir"},
		{name: "fail/working-dir-nul", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"WorkingDir":"/tmp\u0000/proc"}`, want: 400, rule: "working-dir"},

		// Privilege and namespaces.
		{name: "fail/privileged", path: P, body: create(`{"Privileged":true}`), want: 403, rule: "privileged"},
		{name: "fail/privileged-lowercase", path: P, body: create(`{"privileged":true}`), want: 403, rule: "privileged"},
		{name: "fail/network-host", path: P, body: create(`{"NetworkMode":"host"}`), want: 403, rule: "namespace"},
		{name: "fail/network-container", path: P, body: create(`{"NetworkMode":"container:web"}`), want: 403, rule: "namespace"},
		{name: "fail/network-foreign", path: P, body: create(`{"NetworkMode":"othernet"}`), want: 404, rule: "ownership"},
		{name: "fail/endpoint-foreign", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}`, want: 404, rule: "ownership"},
		{name: "fail/endpoint-twice", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"NetworkingConfig":{"EndpointsConfig":{"sessnet":{},"` + n1 + `":{}}}}`, want: 400, rule: "network"},
		{name: "fail/endpoint-links", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"NetworkingConfig":{"EndpointsConfig":{"sessnet":{"Links":["web:web"]}}}}`, want: 403, rule: "network"},
		{name: "fail/pid-host", path: P, body: create(`{"PidMode":"host"}`), want: 403, rule: "namespace"},
		{name: "fail/pid-container", path: P, body: create(`{"PidMode":"container:web"}`), want: 403, rule: "namespace"},
		{name: "fail/ipc-host", path: P, body: create(`{"IpcMode":"host"}`), want: 403, rule: "namespace"},
		{name: "fail/ipc-container", path: P, body: create(`{"IpcMode":"container:web"}`), want: 403, rule: "namespace"},
		{name: "fail/uts-host", path: P, body: create(`{"UTSMode":"host"}`), want: 403, rule: "namespace"},
		{name: "fail/userns-host", path: P, body: create(`{"UsernsMode":"host"}`), want: 403, rule: "namespace"},
		{name: "fail/cgroupns-host", path: P, body: create(`{"CgroupnsMode":"host"}`), want: 403, rule: "namespace"},
		{name: "fail/cgroup-container", path: P, body: create(`{"Cgroup":"container:web"}`), want: 403, rule: "namespace"},
		{name: "fail/links", path: P, body: create(`{"Links":["web:db"]}`), want: 403, rule: "namespace"},
		{name: "fail/cgroup-parent", path: P, body: create(`{"CgroupParent":"/system.slice"}`), want: 403, rule: "cgroup"},

		// Mounts.
		{name: "fail/binds", path: P, body: create(`{"Binds":["/:/host"]}`), want: 403, rule: "mount"},
		{name: "fail/binds-ro", path: P, body: create(`{"Binds":["/etc:/etc:ro"]}`), want: 403, rule: "mount"},
		{name: "fail/mount-bind", path: P, body: create(`{"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}`), want: 403, rule: "mount"},
		{name: "fail/mount-bind-case", path: P, body: create(`{"mounts":[{"type":"bind","source":"/","target":"/host"}]}`), want: 403, rule: "mount"},
		{name: "fail/mount-npipe", path: P, body: create(`{"Mounts":[{"Type":"npipe","Source":"x","Target":"/x"}]}`), want: 403, rule: "mount"},
		{name: "fail/mount-named-volume", path: P, body: create(`{"Mounts":[{"Type":"volume","Source":"hostvol","Target":"/x"}]}`), want: 403, rule: "mount"},
		{name: "fail/volume-device-opt", path: P, body: create(`{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","device":"/","o":"bind"}}}}]}`), want: 403, rule: "mount"},
		{name: "fail/tmpfs-with-bind-opts", path: P, body: create(`{"Mounts":[{"Type":"tmpfs","Target":"/x","BindOptions":{"Propagation":"rshared"}}]}`), want: 403, rule: "mount"},
		{name: "fail/volumes-from", path: P, body: create(`{"VolumesFrom":["web"]}`), want: 403, rule: "mount"},
		{name: "fail/volume-driver", path: P, body: create(`{"VolumeDriver":"local-persist"}`), want: 403, rule: "mount"},
		{name: "fail/storage-opt", path: P, body: create(`{"StorageOpt":{"size":"1T"}}`), want: 403, rule: "mount"},

		// Devices.
		{name: "fail/devices", path: P, body: create(`{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}`), want: 403, rule: "device"},
		{name: "fail/device-requests", path: P, body: create(`{"DeviceRequests":[{"Driver":"nvidia","Count":-1}]}`), want: 403, rule: "device"},
		{name: "fail/device-cgroup-rules", path: P, body: create(`{"DeviceCgroupRules":["b *:* rwm"]}`), want: 403, rule: "device"},
		{name: "fail/blkio-device", path: P, body: create(`{"BlkioDeviceReadBps":[{"Path":"/dev/sda","Rate":1}]}`), want: 403, rule: "device"},

		// Capabilities.
		{name: "fail/cap-sys-admin", path: P, body: create(`{"CapAdd":["SYS_ADMIN"]}`), want: 403, rule: "capability"},
		{name: "fail/cap-sys-admin-prefixed-lower", path: P, body: create(`{"CapAdd":["cap_sys_admin"]}`), want: 403, rule: "capability"},
		{name: "fail/cap-all", path: P, body: create(`{"CapAdd":["ALL"]}`), want: 403, rule: "capability"},
		{name: "fail/cap-all-lower", path: P, body: create(`{"CapAdd":["all"]}`), want: 403, rule: "capability"},
		{name: "fail/cap-net-admin-string-form", path: P, body: create(`{"CapAdd":"NET_ADMIN"}`), want: 403, rule: "capability"},
		{name: "fail/cap-padded", path: P, body: create(`{"CapAdd":[" SYS_PTRACE "]}`), want: 403, rule: "capability"},

		// Security options.
		{name: "fail/seccomp-unconfined", path: P, body: create(`{"SecurityOpt":["seccomp=unconfined"]}`), want: 403, rule: "security-opt"},
		{name: "fail/seccomp-unconfined-colon", path: P, body: create(`{"SecurityOpt":["seccomp:unconfined"]}`), want: 403, rule: "security-opt"},
		{name: "fail/seccomp-other-profile", path: P, body: create(profileOpt(`{"defaultAction":"SCMP_ACT_ALLOW"}`)), want: 403, rule: "security-opt"},
		{name: "fail/seccomp-file-path", path: P, body: create(`{"SecurityOpt":["seccomp=/etc/profile.json"]}`), want: 403, rule: "security-opt"},
		{name: "fail/apparmor-unconfined", path: P, body: create(`{"SecurityOpt":["apparmor=unconfined"]}`), want: 403, rule: "security-opt"},
		{name: "fail/apparmor-unconfined-colon", path: P, body: create(`{"SecurityOpt":["apparmor:unconfined"]}`), want: 403, rule: "security-opt"},
		{name: "fail/label-disable", path: P, body: create(`{"SecurityOpt":["label=disable"]}`), want: 403, rule: "security-opt"},
		{name: "fail/label-disable-colon", path: P, body: create(`{"SecurityOpt":["label:disable"]}`), want: 403, rule: "security-opt"},
		{name: "fail/label-disable-bare", path: P, body: create(`{"SecurityOpt":["disable"]}`), want: 403, rule: "security-opt"},
		{name: "fail/label-type-spc", path: P, body: create(`{"SecurityOpt":["label=type:spc_t"]}`), want: 403, rule: "security-opt"},
		{name: "fail/systempaths-unconfined", path: P, body: create(`{"SecurityOpt":["systempaths=unconfined"]}`), want: 403, rule: "security-opt"},
		{name: "fail/nnp-false", path: P, body: create(`{"SecurityOpt":["no-new-privileges=false"]}`), want: 403, rule: "security-opt"},
		{name: "fail/nnp-false-colon", path: P, body: create(`{"SecurityOpt":["no-new-privileges:false"]}`), want: 403, rule: "security-opt"},
		{name: "fail/unknown-secopt", path: P, body: create(`{"SecurityOpt":["foo=bar"]}`), want: 403, rule: "security-opt"},
		{name: "fail/masked-paths-empty", path: P, body: create(`{"MaskedPaths":[]}`), want: 403, rule: "security-opt"},
		{name: "fail/readonly-paths", path: P, body: create(`{"ReadonlyPaths":["/proc/sys"]}`), want: 403, rule: "security-opt"},

		// Everything else the host would feel.
		{name: "fail/sysctls", path: P, body: create(`{"Sysctls":{"net.ipv4.ip_forward":"1"}}`), want: 403, rule: "sysctl"},
		{name: "fail/runtime-not-allowed", path: P, body: create(`{"Runtime":"runsc"}`), want: 403, rule: "runtime"},
		{name: "fail/runtime-case", path: P, body: create(`{"Runtime":"RUNC"}`), want: 403, rule: "runtime"},
		{name: "fail/isolation-hyperv", path: P, body: create(`{"Isolation":"hyperv"}`), want: 403, rule: "runtime"},
		{name: "fail/port-bindings", path: P, body: create(`{"PortBindings":{"22/tcp":[{"HostPort":"22"}]}}`), want: 403, rule: "port"},
		{name: "fail/publish-all", path: P, body: create(`{"PublishAllPorts":true}`), want: 403, rule: "port"},
		{name: "fail/log-syslog", path: P, body: create(`{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"tcp://10.0.0.1:514"}}}`), want: 403, rule: "log-driver"},
		{name: "fail/log-option", path: P, body: create(`{"LogConfig":{"Type":"json-file","Config":{"labels-regex":".*"}}}`), want: 403, rule: "log-driver"},
		{name: "fail/oom-score-negative", path: P, body: create(`{"OomScoreAdj":-1000}`), want: 403, rule: "resource"},
		{name: "fail/oom-kill-disable", path: P, body: create(`{"OomKillDisable":true}`), want: 403, rule: "resource"},
		{name: "fail/realtime", path: P, body: create(`{"CpuRealtimeRuntime":950000}`), want: 403, rule: "resource"},
		{name: "fail/ulimits", path: P, body: create(`{"Ulimits":[{"Name":"memlock","Soft":-1,"Hard":-1}]}`), want: 403, rule: "ulimit"},
		{name: "fail/memory-over-max", path: P, body: create(`{"Memory":68719476736}`), want: 403, rule: "resource"},
		{name: "fail/swap-unlimited", path: P, body: create(`{"Memory":1048576,"MemorySwap":-1}`), want: 403, rule: "resource"},
		{name: "fail/pids-over-max", path: P, body: create(`{"PidsLimit":100000}`), want: 403, rule: "resource"},
		{name: "fail/annotations", path: P, body: create(`{"Annotations":{"io.kubernetes.cri.container-type":"sandbox"}}`), want: 403, rule: "annotation"},
		{name: "fail/image-not-allowed", path: P, body: `{"Image":"busybox"}`, want: 403, rule: "image"},
		{name: "fail/image-unknown", path: P, body: `{"Image":"evil/unknown:1"}`, want: 403, rule: "image"},
		{name: "fail/image-missing", path: P, body: `{"Cmd":["sh"]}`, want: 400, rule: "image"},
		{name: "fail/bad-name", path: P, query: "name=../x", body: create(""), want: 400, rule: "query"},

		// JSON tricks.
		{name: "fail/duplicate-hostconfig", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{},"HostConfig":{"Privileged":true}}`, want: 400, rule: "json"},
		{name: "fail/case-duplicate-hostconfig", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{},"hostConfig":{"Privileged":true}}`, want: 400, rule: "json"},
		{name: "fail/case-duplicate-privileged", path: P, body: create(`{"Privileged":false,"privileged":true}`), want: 400, rule: "json"},
		{name: "fail/long-s-duplicate", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{},"Hoſtconfig":{"Privileged":true}}`, want: 400, rule: "json"},
		{name: "fail/kelvin-duplicate", path: P, body: "{\"Image\":\"airlock/test:latest\",\"HostConfig\":{\"NetworkMode\":\"none\",\"Networ\u212aMode\":\"host\"}}", want: 400, rule: "json"},
		{name: "fail/duplicate-image", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"Image":"busybox"}`, want: 400, rule: "json"},
		{name: "fail/duplicate-label-key", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"Labels":{"a":"1","a":"2"}}`, want: 400, rule: "json"},
		{name: "fail/unknown-field", path: P, body: create(`{"Foo":1}`), want: 400, rule: "json"},
		{name: "fail/unknown-top-field", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"Bar":true}`, want: 400, rule: "json"},
		{name: "fail/legacy-top-privileged", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"Privileged":true}`, want: 403, rule: "legacy-field"},
		{name: "fail/legacy-top-binds", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"binds":["/:/host"]}`, want: 403, rule: "legacy-field"},
		{name: "fail/legacy-cpuset", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"Cpuset":"0"}`, want: 403, rule: "legacy-field"},
		{name: "fail/legacy-capabilities", path: P, body: create(`{"Capabilities":["CAP_SYS_ADMIN"]}`), want: 403, rule: "legacy-field"},
		{name: "fail/legacy-capabilities-case", path: P, body: create(`{"capabilities":["CAP_SYS_ADMIN"]}`), want: 403, rule: "legacy-field"},
		{name: "fail/trailing-object", path: P, body: create("") + `{"HostConfig":{"Privileged":true}}`, want: 400, rule: "json"},
		{name: "fail/trailing-garbage", path: P, body: create("") + `x`, want: 400, rule: "json"},
		{name: "fail/truncated", path: P, body: `{"Image":"airlock/test:latest"`, want: 400, rule: "json"},
		{name: "fail/not-object", path: P, body: `["Image"]`, want: 400, rule: "json"},
		{name: "fail/wrong-type", path: P, body: create(`{"Privileged":"true"}`), want: 400, rule: "json"},
		{name: "fail/float-memory", path: P, body: create(`{"Memory":1e9}`), want: 400, rule: "json"},
		{name: "fail/invalid-utf8", path: P, body: "{\"Image\":\"airlock/test:latest\",\"Labels\":{\"a\":\"\xff\"}}", want: 400, rule: "json"},
		{name: "fail/empty-body", path: P, header: map[string]string{"Content-Type": "application/json"}, want: 400, rule: "json"},
		{name: "fail/too-deep", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"Labels":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`, want: 400, rule: "json"},

		// Network create.
		{name: "fail/network-macvlan", path: "/networks/create", body: `{"Name":"n","Driver":"macvlan","Options":{"parent":"eth0"}}`, want: 403, rule: "network"},
		{name: "fail/network-bridge-name", path: "/networks/create", body: `{"Name":"n","Options":{"com.docker.network.bridge.name":"docker0"}}`, want: 403, rule: "network"},
		{name: "fail/network-ingress", path: "/networks/create", body: `{"Name":"n","Ingress":true}`, want: 403, rule: "network"},
		{name: "fail/network-config-from", path: "/networks/create", body: `{"Name":"n","ConfigFrom":{"Network":"x"}}`, want: 403, rule: "network"},
		{name: "fail/network-ipam-driver", path: "/networks/create", body: `{"Name":"n","IPAM":{"Driver":"custom"}}`, want: 403, rule: "network"},
		{name: "fail/network-bad-name", path: "/networks/create", body: `{"Name":"../x"}`, want: 400, rule: "network"},
		{name: "fail/network-unknown-field", path: "/networks/create", body: `{"Name":"n","Evil":1}`, want: 400, rule: "json"},
	})
}

// TestPolicyRefusalCount keeps the refused cases above the floor.
func TestPolicyRefusalCount(t *testing.T) {
	// Counted by hand from the tables would drift; this reads them.
	src := 0
	for _, f := range []string{"policy_test.go", "create_test.go"} {
		b, err := readFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src += strings.Count(b, `{name: "fail/`)
	}
	if src < 60 {
		t.Fatalf("only %d refused cases; the policy needs at least 60", src)
	}
}
