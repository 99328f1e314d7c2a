package dockerpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
)

var capName = regexp.MustCompile(`^CAP_[A-Z_]+$`)

// normalizeCap does what dockerd does to a capability name before using it.
func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		if c == "ALL" {
			return "CAP_ALL"
		}
		return c
	}
	return "CAP_" + c
}

// createLegacy lists top-level keys that dockerd still reads from the raw
// create body although they are not part of the API's create object: its
// decoder embeds a deprecated HostConfig at the top level, so a top-level
// "Privileged" or "Binds" would be honoured when no HostConfig is given.
var createLegacy = func() map[string]string {
	m := map[string]string{}
	top := fieldsOf(reflect.TypeFor[container.CreateRequest]())
	for k := range fieldsOf(reflect.TypeFor[container.HostConfig]()) {
		if _, ok := top[k]; !ok {
			m[k] = "host configuration belongs under HostConfig; dockerd's legacy top-level form is not accepted"
		}
	}
	m[foldKey("Cpuset")] = "the deprecated top-level Cpuset is not accepted; use HostConfig.CpusetCpus"
	return m
}()

// hostConfigLegacy: fields an older dockerd reads from HostConfig but the
// current API dropped. They are unknown to the SDK type and so refused
// anyway; naming them gives a clearer message.
var hostConfigLegacy = map[string]string{
	foldKey("Capabilities"): "HostConfig.Capabilities is a removed field that replaced the whole capability set; use CapAdd within the node's list",
}

func handleContainerCreate(ctx context.Context, e *Engine, d *Decision, _ map[string]string, body []byte) error {
	var req container.CreateRequest
	if err := decodeStrict(body, &req, map[string]map[string]string{"": createLegacy, foldKey("HostConfig"): hostConfigLegacy}); err != nil {
		return err
	}
	if err := e.judgeCreate(ctx, &req); err != nil {
		return err
	}
	out, err := json.Marshal(&req)
	if err != nil {
		return fmt.Errorf("encode approved create request: %w", err)
	}
	d.Path = "/containers/create"
	d.Body = out
	return nil
}

// judgeCreate refuses what the node does not allow and applies the floor.
// On success req is the object to forward.
func (e *Engine) judgeCreate(ctx context.Context, req *container.CreateRequest) error {
	if req.Config == nil || strings.TrimSpace(req.Image) == "" {
		return badRequest("image", "Image is required")
	}
	imageID, err := e.allowedImage(ctx, req.Image)
	if err != nil {
		return err
	}
	req.Image = imageID
	if err := e.checkUser(ctx, req.Config, imageID); err != nil {
		return err
	}
	if err := checkWorkingDir(req.Config); err != nil {
		return err
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	req.Labels[LabelManaged] = "true"
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	hc := req.HostConfig
	for _, check := range []func(*container.HostConfig) error{
		checkPrivilege, checkNamespaces, checkMounts, checkDevices,
		e.checkRuntime, checkPorts, checkLogging, checkResources, checkMisc,
	} {
		if err := check(hc); err != nil {
			return err
		}
	}
	if err := e.checkCaps(hc); err != nil {
		return err
	}
	if err := e.checkSecurityOpt(hc); err != nil {
		return err
	}
	if err := e.checkNetworking(ctx, req); err != nil {
		return err
	}
	if err := e.checkSessionNetwork(ctx, req); err != nil {
		return err
	}
	// The image is not the session's to change: what it writes goes to
	// tmpfs mounts, counted against its memory limit, and is gone with it.
	hc.ReadonlyRootfs = true
	return e.applyLimits(hc)
}

func (e *Engine) allowedImage(ctx context.Context, ref string) (string, error) {
	allowed, err := e.allowedImageIDs(ctx)
	if err != nil {
		return "", err
	}
	// A request that names an allowed reference exactly was resolved above.
	for id, refs := range allowed {
		if slices.Contains(refs, ref) {
			return id, nil
		}
	}
	id, err := e.lookup.ImageID(ctx, ref)
	if err == ErrNotFound {
		return "", refuse("image", "image %q is not on this node's allow-list", ref)
	}
	if err != nil {
		return "", fmt.Errorf("resolve image %q: %w", ref, err)
	}
	if _, ok := allowed[id]; !ok {
		return "", refuse("image", "image %q is not on this node's allow-list", ref)
	}
	return id, nil
}

// allowedImageIDs resolves the allow-list now, so a tag moved since start is
// judged by the image it names today. It maps each image ID to the allowed
// references that name it. Missing images are skipped.
func (e *Engine) allowedImageIDs(ctx context.Context) (map[string][]string, error) {
	ids := map[string][]string{}
	for _, ref := range e.cfg.Images {
		id, err := e.lookup.ImageID(ctx, ref)
		if err == ErrNotFound {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resolve allowed image %q: %w", ref, err)
		}
		ids[id] = append(ids[id], ref)
	}
	return ids, nil
}

func checkPrivilege(hc *container.HostConfig) error {
	if hc.Privileged {
		return refuse("privileged", "privileged containers are not allowed")
	}
	return nil
}

func checkNamespaces(hc *container.HostConfig) error {
	nm := string(hc.NetworkMode)
	if nm == "host" || strings.HasPrefix(nm, "container:") {
		return refuse("namespace", "network mode %q shares another namespace and is not allowed", nm)
	}
	if pm := string(hc.PidMode); pm != "" {
		return refuse("namespace", "PID mode %q is not allowed; containers get their own PID namespace", pm)
	}
	switch ipc := string(hc.IpcMode); ipc {
	case "", "private", "shareable", "none":
	default:
		return refuse("namespace", "IPC mode %q is not allowed; use private, shareable or none", ipc)
	}
	if uts := string(hc.UTSMode); uts != "" {
		return refuse("namespace", "UTS mode %q is not allowed", uts)
	}
	if us := string(hc.UsernsMode); us != "" {
		return refuse("namespace", "user namespace mode %q is not allowed", us)
	}
	switch cg := string(hc.CgroupnsMode); cg {
	case "", "private":
	default:
		return refuse("namespace", "cgroup namespace mode %q is not allowed", cg)
	}
	if hc.Cgroup != "" {
		return refuse("namespace", "cgroup %q is not allowed", hc.Cgroup)
	}
	if hc.CgroupParent != "" {
		return refuse("cgroup", "cgroup parent %q is not allowed", hc.CgroupParent)
	}
	if len(hc.Links) > 0 {
		return refuse("namespace", "links to other containers are not allowed")
	}
	return nil
}

func checkMounts(hc *container.HostConfig) error {
	if len(hc.Binds) > 0 {
		return refuse("mount", "bind mounts (Binds) are not allowed")
	}
	if len(hc.VolumesFrom) > 0 {
		return refuse("mount", "VolumesFrom is not allowed")
	}
	if hc.VolumeDriver != "" {
		return refuse("mount", "volume driver %q is not allowed", hc.VolumeDriver)
	}
	for i, m := range hc.Mounts {
		switch m.Type {
		case mount.TypeTmpfs:
			if m.Source != "" || m.BindOptions != nil || m.VolumeOptions != nil {
				return refuse("mount", "Mounts[%d]: a tmpfs mount takes no source, bind or volume options", i)
			}
		case mount.TypeVolume:
			if m.Source != "" {
				return refuse("mount", "Mounts[%d]: named volumes are not allowed; only anonymous volumes", i)
			}
			if m.BindOptions != nil || m.TmpfsOptions != nil {
				return refuse("mount", "Mounts[%d]: a volume mount takes no bind or tmpfs options", i)
			}
			if vo := m.VolumeOptions; vo != nil && (vo.DriverConfig != nil || vo.Subpath != "") {
				return refuse("mount", "Mounts[%d]: volume driver options (such as device or o=bind) are not allowed", i)
			}
		default:
			return refuse("mount", "Mounts[%d]: mount type %q is not allowed; only tmpfs and anonymous volumes", i, m.Type)
		}
		if !strings.HasPrefix(m.Target, "/") {
			return badRequest("mount", "Mounts[%d]: target %q must be an absolute path", i, m.Target)
		}
	}
	for target := range hc.Tmpfs {
		if !strings.HasPrefix(target, "/") {
			return badRequest("mount", "Tmpfs target %q must be an absolute path", target)
		}
	}
	if len(hc.StorageOpt) > 0 {
		return refuse("mount", "storage driver options are not allowed")
	}
	return nil
}

func checkDevices(hc *container.HostConfig) error {
	switch {
	case len(hc.Devices) > 0:
		return refuse("device", "devices are not allowed")
	case len(hc.DeviceRequests) > 0:
		return refuse("device", "device requests are not allowed")
	case len(hc.DeviceCgroupRules) > 0:
		return refuse("device", "device cgroup rules are not allowed")
	case len(hc.BlkioWeightDevice)+len(hc.BlkioDeviceReadBps)+len(hc.BlkioDeviceWriteBps)+
		len(hc.BlkioDeviceReadIOps)+len(hc.BlkioDeviceWriteIOps) > 0:
		return refuse("device", "per-device block I/O settings name host devices and are not allowed")
	}
	return nil
}

func (e *Engine) checkRuntime(hc *container.HostConfig) error {
	if hc.Runtime != "" && !slices.Contains(e.cfg.Runtimes, hc.Runtime) {
		return refuse("runtime", "runtime %q is not on this node's allow-list (%s)", hc.Runtime, strings.Join(e.cfg.Runtimes, ", "))
	}
	switch hc.Isolation {
	case "", "default":
	default:
		return refuse("runtime", "isolation %q is not allowed", hc.Isolation)
	}
	return nil
}

func checkPorts(hc *container.HostConfig) error {
	if len(hc.PortBindings) > 0 || hc.PublishAllPorts {
		return refuse("port", "publishing ports on the host is not allowed; media goes through TURN")
	}
	return nil
}

var logDrivers = map[string]bool{"": true, "json-file": true, "local": true, "none": true}
var logOptions = map[string]bool{"max-size": true, "max-file": true, "compress": true, "mode": true, "max-buffer-size": true}

func checkLogging(hc *container.HostConfig) error {
	if !logDrivers[hc.LogConfig.Type] {
		return refuse("log-driver", "log driver %q is not allowed; use json-file, local or none", hc.LogConfig.Type)
	}
	for k := range hc.LogConfig.Config {
		if !logOptions[k] {
			return refuse("log-driver", "log option %q is not allowed", k)
		}
	}
	return nil
}

func checkResources(hc *container.HostConfig) error {
	switch {
	case hc.OomScoreAdj < 0:
		return refuse("resource", "a negative OomScoreAdj would shield the container from the OOM killer at the host's expense")
	case hc.CPURealtimePeriod != 0 || hc.CPURealtimeRuntime != 0:
		return refuse("resource", "real-time CPU scheduling is not allowed")
	//lint:ignore SA1019 dockerd 20.10 still honours these deprecated fields, so they are judged.
	case hc.KernelMemory != 0 || hc.KernelMemoryTCP != 0:
		return refuse("resource", "kernel memory limits are deprecated and not allowed")
	case hc.OomKillDisable != nil && *hc.OomKillDisable:
		return refuse("resource", "disabling the OOM killer is not allowed")
	case len(hc.Ulimits) > 0:
		return refuse("ulimit", "ulimits are not allowed; the daemon's defaults apply")
	case hc.Memory < 0 || hc.MemorySwap < -1 || hc.NanoCPUs < 0 || hc.CPUShares < 0 || hc.ShmSize < 0:
		return badRequest("resource", "resource limits must not be negative")
	}
	return nil
}

func checkMisc(hc *container.HostConfig) error {
	if len(hc.Sysctls) > 0 {
		return refuse("sysctl", "sysctls are not allowed")
	}
	if len(hc.Annotations) > 0 {
		return refuse("annotation", "OCI annotations are passed to the runtime and are not allowed")
	}
	if hc.MaskedPaths != nil || hc.ReadonlyPaths != nil {
		return refuse("security-opt", "overriding masked or read-only paths is not allowed")
	}
	return nil
}

func (e *Engine) checkCaps(hc *container.HostConfig) error {
	var add []string
	for _, c := range hc.CapAdd {
		n := normalizeCap(c)
		if n == "CAP_ALL" {
			return refuse("capability", "adding ALL capabilities is not allowed")
		}
		if !e.cfg.caps[n] {
			return refuse("capability", "capability %s is not on this node's list (%s)", n, strings.Join(sortedKeys(e.cfg.caps), ", "))
		}
		if !slices.Contains(add, n) {
			add = append(add, n)
		}
	}
	// The floor: everything dropped, then only the approved ones added back.
	hc.CapAdd = add
	hc.CapDrop = []string{"ALL"}
	return nil
}

// applyLimits gives a container the node's default limits when it sets
// none, and refuses limits above the node's maximums.
func (e *Engine) applyLimits(hc *container.HostConfig) error {
	d := e.cfg.Defaults
	if hc.Memory == 0 {
		hc.Memory = d.memory
	}
	if hc.Memory > d.maxMemory {
		return refuse("resource", "memory limit %d is above this node's maximum %s", hc.Memory, d.MaxMemory)
	}
	if hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory {
		return badRequest("resource", "MemorySwap must be at least Memory")
	}
	// Unlimited swap would make the memory limit meaningless.
	if hc.MemorySwap == -1 || hc.MemorySwap > 2*hc.Memory {
		return refuse("resource", "swap beyond the memory limit is not allowed")
	}
	if hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
		v := d.PidsLimit
		hc.PidsLimit = &v
	}
	if *hc.PidsLimit > d.MaxPidsLimit {
		return refuse("resource", "pids limit %d is above this node's maximum %d", *hc.PidsLimit, d.MaxPidsLimit)
	}
	return nil
}

// checkNetworking resolves every network a container joins to a labelled
// network and rewrites it to that network's full ID.
func (e *Engine) checkNetworking(ctx context.Context, req *container.CreateRequest) error {
	hc := req.HostConfig
	nm := string(hc.NetworkMode)
	if !builtinNetwork(nm) {
		id, err := e.network(ctx, nm)
		if err != nil {
			return err
		}
		hc.NetworkMode = container.NetworkMode(id)
	}
	if req.NetworkingConfig == nil {
		return nil
	}
	eps := map[string]*network.EndpointSettings{}
	for name, ep := range req.NetworkingConfig.EndpointsConfig {
		key := name
		if !builtinNetwork(name) {
			id, err := e.network(ctx, name)
			if err != nil {
				return err
			}
			key = id
		}
		if _, dup := eps[key]; dup {
			return badRequest("network", "network %q is named twice in EndpointsConfig", name)
		}
		if err := checkEndpoint(ep); err != nil {
			return err
		}
		eps[key] = ep
	}
	req.NetworkingConfig.EndpointsConfig = eps
	return nil
}

func builtinNetwork(n string) bool {
	return n == "" || n == "default" || n == "bridge" || n == "none"
}

func checkEndpoint(ep *network.EndpointSettings) error {
	if ep == nil {
		return nil
	}
	if len(ep.Links) > 0 {
		return refuse("network", "endpoint links are not allowed")
	}
	if len(ep.DriverOpts) > 0 {
		return refuse("network", "endpoint driver options are not allowed")
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
