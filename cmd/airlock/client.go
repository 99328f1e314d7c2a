package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/cli"
	"github.com/airlock-rbi/airlock/internal/pki"
)

func apiClient() (*cli.Client, *cli.Config, error) {
	cfg, err := cli.Load()
	if err != nil {
		return nil, nil, err
	}
	c, err := cli.New(*cfg)
	return c, cfg, err
}

func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("login", stderr)
	server := fs.String("server", "https://127.0.0.1:8443", "server URL")
	user := fs.String("user", "", "user name")
	caFile := fs.String("ca-cert", "", "the deployment CA certificate (DATA/ca.pem); default: the system's roots")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		fmt.Fprintln(stderr, "airlock login: --user is required")
		return errUsage
	}
	cfg := cli.Config{Server: strings.TrimSuffix(*server, "/"), User: *user}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		cfg.CAPEM = string(pem)
	}
	password := os.Getenv("AIRLOCK_PASSWORD")
	if password == "" {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return fmt.Errorf("no terminal to ask the password on: set AIRLOCK_PASSWORD")
		}
		fmt.Fprintf(stderr, "Password for %s: ", *user)
		pw, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		password = string(pw)
	}
	c, err := cli.New(cfg)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	var resp struct {
		Token string `json:"token"`
	}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/auth/login", map[string]any{"user": *user, "password": password, "token": true, "token_name": "cli-" + sanitize(host)}, &resp); err != nil {
		return err
	}
	cfg.Token = resp.Token
	if err := cfg.Save(); err != nil {
		return err
	}
	p, _ := cli.ConfigPath()
	fmt.Fprintf(stdout, "logged in to %s as %s (token saved in %s)\n", cfg.Server, *user, p)
	return nil
}

// sanitize keeps a host name within the token name rules.
func sanitize(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

type session struct {
	ID        string     `json:"id"`
	Workspace string     `json:"workspace_id"`
	Node      string     `json:"node_id"`
	State     string     `json:"state"`
	Reason    string     `json:"reason"`
	EndReason string     `json:"end_reason"`
	EndsAt    *time.Time `json:"ends_at"`
	EndsFor   string     `json:"ends_for"`
	ResumeBy  *time.Time `json:"resume_by"`
	CreatedAt time.Time  `json:"created_at"`
}

// ends is when a running session ends and why, or why it ended (and,
// suspended, how long it may be resumed).
func (s session) ends() string {
	if s.State == "suspended" && s.ResumeBy != nil {
		return fmt.Sprintf("suspended (%s); resume within %s", s.EndReason, time.Until(*s.ResumeBy).Round(time.Second))
	}
	if s.EndReason != "" {
		return s.EndReason
	}
	if s.EndsAt == nil {
		return "-"
	}
	return fmt.Sprintf("in %s (%s)", time.Until(*s.EndsAt).Round(time.Second), s.EndsFor)
}

// waitSession long-polls session s until it is neither pending nor
// starting, for at most timeout; a failed session is an error.
func waitSession(ctx context.Context, c *cli.Client, s *session, timeout time.Duration) error {
	// Long polls: the server answers as soon as the state settles.
	deadline := time.Now().Add(timeout)
	for s.State == "pending" || s.State == "starting" {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("session %s is still %s after %s", s.ID, s.State, timeout)
		}
		wait := min(left, 30*time.Second).Round(time.Millisecond)
		if err := c.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID+"?wait="+wait.String(), nil, s); err != nil {
			return err
		}
	}
	if s.State == "failed" {
		return fmt.Errorf("session %s failed: %s", s.ID, s.Reason)
	}
	return nil
}

func runSession(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock session create|ls|show|extend|resume|rm")
		return errUsage
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		fs := newFlags("session create", stderr)
		wait := fs.Bool("wait", false, "wait until the session is ready (or failed)")
		timeout := fs.Duration("timeout", 2*time.Minute, "how long --wait waits")
		locale := fs.String("locale", "", "the session's language, a BCP 47 tag such as ja-JP (default: the workspace's, else en-US)")
		timeZone := fs.String("timezone", "", "the session's IANA time zone such as Asia/Tokyo (default: the workspace's, else UTC)")
		scale := fs.Float64("scale", 0, "device scale factor for a HiDPI viewer, 1 to 4 (at most the workspace's max_scale; default 1)")
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock session create WORKSPACE [--wait] [--locale TAG] [--timezone NAME] [--scale N]")
			return errUsage
		}
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		body := map[string]any{"workspace": args[1]}
		for k, v := range map[string]any{"locale": *locale, "timezone": *timeZone, "scale": *scale} {
			if v != "" && v != 0.0 {
				body[k] = v
			}
		}
		var s session
		if err := c.Do(ctx, http.MethodPost, "/api/v1/sessions", body, &s); err != nil {
			return err
		}
		if *wait {
			if err := waitSession(ctx, c, &s, *timeout); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, s.ID)
		return nil
	case "resume":
		fs := newFlags("session resume", stderr)
		wait := fs.Bool("wait", false, "wait until the session is ready (or failed)")
		timeout := fs.Duration("timeout", 2*time.Minute, "how long --wait waits")
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock session resume ID [--wait]")
			return errUsage
		}
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		var s session
		if err := c.Do(ctx, http.MethodPost, "/api/v1/sessions/"+url.PathEscape(args[1])+"/resume", nil, &s); err != nil {
			return err
		}
		if *wait {
			if err := waitSession(ctx, c, &s, *timeout); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s %s\n", s.ID, s.State)
		return nil
	case "ls":
		fs := newFlags("session ls", stderr)
		all := fs.Bool("all", false, "every user's sessions (admin)")
		out := fs.String("o", "table", "output: table or json")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		path := "/api/v1/sessions"
		if *all {
			path += "?all=1"
		}
		var list []session
		if err := c.Do(ctx, http.MethodGet, path, nil, &list); err != nil {
			return err
		}
		if *out == "json" {
			return printJSON(stdout, list)
		}
		var rows [][]string
		for _, s := range list {
			rows = append(rows, []string{s.ID, s.State, ago(s.CreatedAt), s.ends(), s.Reason})
		}
		table(stdout, "ID\tSTATE\tCREATED\tENDS\tREASON", rows)
		return nil
	case "show":
		fs := newFlags("session show", stderr)
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock session show ID [-o json]")
			return errUsage
		}
		out := fs.String("o", "table", "output: table or json")
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		var raw map[string]any
		if err := c.Do(ctx, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(args[1]), nil, &raw); err != nil {
			return err
		}
		if *out == "json" {
			return printJSON(stdout, raw)
		}
		for _, k := range []string{"id", "state", "reason", "end_reason", "workspace_id", "node_id", "container", "created_at", "ready_at",
			"expires_at", "ends_at", "ends_for", "resume_by", "stopped_at"} {
			if v, ok := raw[k]; ok {
				fmt.Fprintf(stdout, "%-13s %v\n", k+":", v)
			}
		}
		return nil
	case "rm":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: airlock session rm ID")
			return errUsage
		}
		var s session
		if err := c.Do(ctx, http.MethodDelete, "/api/v1/sessions/"+url.PathEscape(args[1]), nil, &s); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", s.ID, s.State)
		return nil
	case "extend":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: airlock session extend ID")
			return errUsage
		}
		var s session
		if err := c.Do(ctx, http.MethodPost, "/api/v1/sessions/"+url.PathEscape(args[1])+"/extend", nil, &s); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s ends %s\n", s.ID, s.ends())
		return nil
	}
	fmt.Fprintf(stderr, "airlock session: unknown command %q (create, ls, show, extend, resume, rm)\n", args[0])
	return errUsage
}

func runWorkspace(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock workspace ls|show|add|update|rm")
		return errUsage
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		var list []struct {
			Name, Image, Isolation, Seccomp, Clipboard string
			Memory                                     int64
			Egress                                     *struct{ Rules []json.RawMessage }
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/workspaces", nil, &list); err != nil {
			return err
		}
		var rows [][]string
		for _, w := range list {
			seccomp := w.Seccomp
			if seccomp == "" {
				seccomp = "default"
			}
			// Admins see the policy; "-" is a standard workspace (or a
			// caller who may not see it).
			egress := "-"
			if w.Egress != nil {
				egress = fmt.Sprintf("%d rules", len(w.Egress.Rules))
				if len(w.Egress.Rules) == 0 {
					egress = "default"
				}
			}
			rows = append(rows, []string{w.Name, w.Image, w.Isolation, fmt.Sprint(w.Memory), seccomp, w.Clipboard, egress})
		}
		table(stdout, "NAME\tIMAGE\tISOLATION\tMEMORY\tSECCOMP\tCLIPBOARD\tEGRESS", rows)
		return nil
	case "show":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock workspace show NAME")
			return errUsage
		}
		var w json.RawMessage
		if err := c.Do(ctx, http.MethodGet, "/api/v1/workspaces/"+url.PathEscape(args[1]), nil, &w); err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(w, &v); err != nil {
			return fmt.Errorf("workspace %s: %w", args[1], err)
		}
		return printJSON(stdout, v)
	case "add", "update":
		verb := args[0]
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			if verb == "add" {
				fmt.Fprintln(stderr, "usage: airlock workspace add NAME --image IMG [--isolation standard] [--memory 512m] [--allow RULE] [--deny RULE] [--egress-file FILE] …")
			} else {
				fmt.Fprintln(stderr, "usage: airlock workspace update NAME [--image IMG] [--isolation hardened] [--allow RULE] [--deny RULE] [--egress-file FILE] [--clear-egress] …")
			}
			return errUsage
		}
		fs := newFlags("workspace "+verb, stderr)
		wf := workspaceFlags(fs, verb == "add")
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		body, err := wf.body(fs, verb == "add")
		if err != nil {
			return err
		}
		if verb == "add" {
			body["name"] = args[1]
			if err := c.Do(ctx, http.MethodPost, "/api/v1/workspaces", body, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "workspace %s added\n", args[1])
			return nil
		}
		if len(body) == 0 {
			fmt.Fprintln(stderr, "airlock workspace update: no change given; name a setting to change, e.g. --memory 1g or --allow '*.example.com:443'")
			return errUsage
		}
		if err := c.Do(ctx, http.MethodPatch, "/api/v1/workspaces/"+url.PathEscape(args[1]), body, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workspace %s updated (sessions launched from now on get the change)\n", args[1])
		return nil
	case "rm":
		return deleteNamed(ctx, c, stderr, args, "airlock workspace rm NAME", "/api/v1/workspaces/")
	}
	fmt.Fprintf(stderr, "airlock workspace: unknown command %q (ls, show, add, update, rm)\n", args[0])
	return errUsage
}

// wsFlags are the settings of `workspace add` and `workspace update`.
type wsFlags struct {
	image, iso, mem, shm, startURL, desc, seccomp, clipboard *string
	cpus                                                     *float64
	pids                                                     *int64
	env                                                      stringList
	egressFile                                               *string
	clearEgress                                              *bool
	rules                                                    egressRules
	browser                                                  *wsBrowserFlags
	limits                                                   [5]*string
	onExpiry                                                 *string
}

// limitFlags are the session limit flags and the API fields they set.
var limitFlags = [5][2]string{
	{"idle-timeout", "idle_timeout"}, {"viewer-idle-timeout", "viewer_idle_timeout"}, {"lifetime", "lifetime"}, {"max-lifetime", "max_lifetime"},
	{"resume-grace", "resume_grace"},
}

func workspaceFlags(fs *flag.FlagSet, add bool) *wsFlags {
	f := &wsFlags{}
	f.image = fs.String("image", "", "image reference (on the nodes' allow-lists)")
	isoDefault := ""
	if add {
		isoDefault = "standard"
	}
	f.iso = fs.String("isolation", isoDefault, "standard, hardened or sandboxed")
	f.mem = fs.String("memory", "", "memory limit, e.g. 512m (default: the node's)")
	f.cpus = fs.Float64("cpus", 0, "CPU limit, e.g. 1.5 (default: none)")
	f.pids = fs.Int64("pids", 0, "process limit (default: the node's)")
	f.shm = fs.String("shm", "", "size of /dev/shm, e.g. 256m")
	f.startURL = fs.String("start-url", "", "first page of a browser workspace")
	f.desc = fs.String("description", "", "one line for the catalog")
	f.seccomp = fs.String("seccomp", "", "seccomp profile the server knows, e.g. chromium (default: Docker's)")
	f.clipboard = fs.String("clipboard", "", "clipboard policy: off, to-container, from-container or both (default both)")
	fs.Var(&f.env, "env", "KEY=VALUE for the container (repeatable; on update, replaces every variable)")
	f.egressFile = fs.String("egress-file", "", "egress policy of a hardened or sandboxed workspace, as YAML or JSON ({\"rules\":[...]}); on update, replaces the policy")
	fs.Var(egressFlag{&f.rules, airlock.EgressAllow}, "allow", "egress rule allowing DOMAIN[:PORTS] or CIDR[:PORTS], e.g. '*.example.com:443' or 10.1.0.0/16:22 (repeatable, in order: the first rule that matches decides; on update, the rules given replace the policy)")
	fs.Var(egressFlag{&f.rules, airlock.EgressDeny}, "deny", "egress rule denying DOMAIN[:PORTS] or CIDR[:PORTS], e.g. '*' or 10.0.0.0/8 (repeatable, in order with --allow)")
	if !add {
		f.clearEgress = fs.Bool("clear-egress", false, "empty the egress policy (back to the defaults: the public internet, nothing private)")
	}
	f.browser = workspaceBrowserFlags(fs, add)
	for i, help := range []string{
		"end a session after this long with no viewer and no input, e.g. 30m (default: the server's)",
		"end a session after this long without input while a viewer is connected, e.g. 4h (default: the server's)",
		"end a session this long after its launch, however busy, e.g. 12h (default: the server's)",
		"how far after its launch a user may extend a session's end; equal to --lifetime: no extension (default: the server's)",
		"how long a suspended session (--on-expiry suspend) may be resumed before it is removed, e.g. 24h (default: the server's)",
	} {
		f.limits[i] = fs.String(limitFlags[i][0], "", help)
	}
	f.onExpiry = fs.String("on-expiry", "", "what an idle or lifetime end does: remove, or suspend (stop the container and keep it for --resume-grace; the user may resume it) (default: the server's)")
	return f
}

// body is the request the flags make: every setting for add, only those
// given for update.
func (f *wsFlags) body(fs *flag.FlagSet, add bool) (map[string]any, error) {
	body := map[string]any{}
	set := func(name string) bool { return add || flagSet(fs, name) }
	for _, s := range []struct {
		flag, key string
		val       any
	}{
		{"image", "image", *f.image}, {"isolation", "isolation", *f.iso}, {"cpus", "nano_cpus", int64(*f.cpus * 1e9)},
		{"pids", "pids_limit", *f.pids}, {"start-url", "start_url", *f.startURL}, {"description", "description", *f.desc},
		{"seccomp", "seccomp", *f.seccomp}, {"clipboard", "clipboard", *f.clipboard},
	} {
		if set(s.flag) {
			body[s.key] = s.val
		}
	}
	for _, kv := range []struct {
		flag, key, val string
	}{{"memory", "memory", *f.mem}, {"shm", "shm_size", *f.shm}} {
		if kv.val != "" {
			n, err := parseSize(kv.val)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", kv.flag, err)
			}
			body[kv.key] = n
		} else if !add && flagSet(fs, kv.flag) {
			body[kv.key] = 0 // --memory '' on update: back to the node's default
		}
	}
	if len(f.env) > 0 {
		m := map[string]string{}
		for _, e := range f.env {
			k, v, ok := strings.Cut(e, "=")
			if !ok {
				return nil, fmt.Errorf("--env %q is not KEY=VALUE", e)
			}
			m[k] = v
		}
		body["env"] = m
	}
	egress, err := f.egress(fs)
	if err != nil {
		return nil, err
	}
	if egress != nil {
		body["egress"] = egress
	}
	if err := f.browser.set(fs, add, body); err != nil {
		return nil, err
	}
	// Durations as the server reads them ("30m"); "" or "0" on update
	// goes back to the server's default.
	for i, l := range limitFlags {
		if v := *f.limits[i]; v != "" || (!add && flagSet(fs, l[0])) {
			if v == "" {
				v = "0"
			}
			body[l[1]] = v
		}
	}
	if v := *f.onExpiry; v != "" || (!add && flagSet(fs, "on-expiry")) {
		body["on_expiry"] = v
	}
	return body, nil
}

// egress is the policy the egress flags give, or nil when none is given.
func (f *wsFlags) egress(fs *flag.FlagSet) (map[string]any, error) {
	file := flagSet(fs, "egress-file")
	wipe := f.clearEgress != nil && *f.clearEgress
	n := 0
	for _, given := range []bool{file, len(f.rules.rules) > 0, wipe} {
		if given {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("--egress-file, --allow/--deny and --clear-egress each set the whole egress policy: give one of them (put every rule in the file, or give every rule as a flag)")
	}
	switch {
	case file:
		p, err := cli.ReadEgressFile(*f.egressFile)
		if err != nil {
			return nil, err
		}
		return map[string]any{"rules": nonNilRules(p.Rules)}, nil
	case len(f.rules.rules) > 0:
		return map[string]any{"rules": f.rules.rules}, nil
	case wipe:
		return map[string]any{"rules": []airlock.EgressRule{}}, nil
	}
	return nil, nil
}

func nonNilRules(r []airlock.EgressRule) []airlock.EgressRule {
	if r == nil {
		return []airlock.EgressRule{}
	}
	return r
}

// egressRules collects --allow and --deny in command-line order, which
// is the policy's order.
type egressRules struct{ rules []airlock.EgressRule }

// egressFlag is --allow or --deny: each value is parsed when given, so a
// malformed rule is refused naming its flag.
type egressFlag struct {
	into   *egressRules
	action string
}

func (f egressFlag) String() string { return "" }

func (f egressFlag) Set(v string) error {
	r, err := cli.ParseEgressRule(f.action, v)
	if err != nil {
		return err
	}
	f.into.rules = append(f.into.rules, r)
	return nil
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock node ls|drain|undrain|rm|docker-env|join-token")
		return errUsage
	}
	if args[0] == "join-token" {
		return runJoinToken(ctx, args[1:], stdout, stderr)
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		var list []struct {
			Name, URL, State string
			Draining         bool
			Capacity, Active int
			Isolation        []string
			LastHeartbeat    time.Time `json:"last_heartbeat"`
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/nodes", nil, &list); err != nil {
			return err
		}
		var rows [][]string
		for _, n := range list {
			if n.Draining {
				n.State += ", draining"
			}
			rows = append(rows, []string{n.Name, n.URL, n.State, fmt.Sprintf("%d/%d", n.Active, n.Capacity), strings.Join(n.Isolation, ","), ago(n.LastHeartbeat)})
		}
		table(stdout, "NAME\tURL\tSTATE\tLOAD\tISOLATION\tHEARTBEAT", rows)
		return nil
	case "drain", "undrain":
		if len(args) != 2 {
			fmt.Fprintf(stderr, "usage: airlock node %s NAME\n", args[0])
			return errUsage
		}
		var n struct {
			Name     string
			Draining bool
			Active   int
		}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/nodes/"+url.PathEscape(args[1])+"/"+args[0], nil, &n); err != nil {
			return err
		}
		if n.Draining {
			fmt.Fprintf(stdout, "%s is draining: no new sessions; its %d active sessions run until they end\n", n.Name, n.Active)
		} else {
			fmt.Fprintf(stdout, "%s takes new sessions again\n", n.Name)
		}
		return nil
	case "rm":
		fs := newFlags("node rm", stderr)
		force := fs.Bool("force", false, "remove even with active sessions (they fail)")
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock node rm NAME [--force]")
			return errUsage
		}
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		path := "/api/v1/nodes/" + url.PathEscape(args[1])
		if *force {
			path += "?force=1"
		}
		return c.Do(ctx, http.MethodDelete, path, nil, nil)
	case "docker-env":
		fs := newFlags("node docker-env", stderr)
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock node docker-env NAME [--out DIR]")
			return errUsage
		}
		out := fs.String("out", "", "directory for ca.pem, cert.pem, key.pem (default ~/.config/airlock/docker/NAME)")
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		var env struct {
			DockerHost string `json:"docker_host"`
			CA         string `json:"ca"`
			Cert       string `json:"cert"`
			Key        string `json:"key"`
		}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/nodes/"+url.PathEscape(args[1])+"/docker-env", struct{}{}, &env); err != nil {
			return err
		}
		dir := *out
		if dir == "" {
			p, err := cli.ConfigPath()
			if err != nil {
				return err
			}
			dir = filepath.Join(filepath.Dir(p), "docker", args[1])
		}
		if err := pki.WriteBundle(dir, &pki.Bundle{CACertPEM: []byte(env.CA), CertPEM: []byte(env.Cert), KeyPEM: []byte(env.Key)}); err != nil {
			return err
		}
		abs, _ := filepath.Abs(dir)
		fmt.Fprintf(stdout, "export DOCKER_HOST=%s\nexport DOCKER_TLS_VERIFY=1\nexport DOCKER_CERT_PATH=%s\n", env.DockerHost, abs)
		return nil
	}
	fmt.Fprintf(stderr, "airlock node: unknown command %q (ls, drain, undrain, rm, docker-env, join-token)\n", args[0])
	return errUsage
}

func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock user add|ls|rm|passwd|reset|policy")
		return errUsage
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		var list []struct{ Name, Role string }
		if err := c.Do(ctx, http.MethodGet, "/api/v1/users", nil, &list); err != nil {
			return err
		}
		var rows [][]string
		for _, u := range list {
			rows = append(rows, []string{u.Name, u.Role})
		}
		table(stdout, "NAME\tROLE", rows)
		return nil
	case "add":
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock user add NAME [--role user|admin] [--max-sessions N] (password from AIRLOCK_NEW_PASSWORD or stdin)")
			return errUsage
		}
		fs := newFlags("user add", stderr)
		role := fs.String("role", "user", "user or admin")
		max := fs.Int("max-sessions", 0, "active session limit (0: server default)")
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		pw := os.Getenv("AIRLOCK_NEW_PASSWORD")
		if pw == "" {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("give the new password in AIRLOCK_NEW_PASSWORD or on stdin")
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/users", map[string]any{"name": args[1], "password": pw, "role": *role, "max_sessions": *max}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s added\n", args[1])
		return nil
	case "rm":
		return deleteNamed(ctx, c, stderr, args, "airlock user rm NAME", "/api/v1/users/")
	case "policy":
		return runUserPolicy(ctx, c, args, stdout, stderr)
	case "passwd":
		if len(args) != 1 {
			fmt.Fprintln(stderr, "usage: airlock user passwd (current password from AIRLOCK_PASSWORD, new from AIRLOCK_NEW_PASSWORD; else asked, or one line each on stdin)")
			return errUsage
		}
		sec := cli.NewSecrets(stderr)
		cur, err := sec.Get("AIRLOCK_PASSWORD", "current password", false)
		if err != nil {
			return err
		}
		pw, err := sec.Get("AIRLOCK_NEW_PASSWORD", "new password", true)
		if err != nil {
			return err
		}
		var res struct {
			Ended int `json:"web_sessions_ended"`
		}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/users/me/password", map[string]any{"current": cur, "new": pw}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password changed; %d web sessions signed out (API tokens stay valid)\n", res.Ended)
		return nil
	case "reset":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock user reset NAME (new password from AIRLOCK_NEW_PASSWORD; else asked, or a line on stdin)")
			return errUsage
		}
		pw, err := cli.NewSecrets(stderr).Get("AIRLOCK_NEW_PASSWORD", "new password for "+args[1], true)
		if err != nil {
			return err
		}
		var res struct {
			Ended int `json:"web_sessions_ended"`
		}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(args[1])+"/password", map[string]any{"new": pw}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s reset; %d web sessions signed out\n", args[1], res.Ended)
		return nil
	}
	fmt.Fprintf(stderr, "airlock user: unknown command %q (add, ls, rm, passwd, reset, policy)\n", args[0])
	return errUsage
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock token create|ls|revoke")
		return errUsage
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		var list []struct {
			ID, Name   string
			CreatedAt  time.Time  `json:"created_at"`
			LastUsedAt *time.Time `json:"last_used_at"`
			RevokedAt  *time.Time `json:"revoked_at"`
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/tokens", nil, &list); err != nil {
			return err
		}
		var rows [][]string
		for _, t := range list {
			used, state := "-", "active"
			if t.LastUsedAt != nil {
				used = ago(*t.LastUsedAt)
			}
			if t.RevokedAt != nil {
				state = "revoked"
			}
			rows = append(rows, []string{t.ID, t.Name, ago(t.CreatedAt), used, state})
		}
		table(stdout, "ID\tNAME\tCREATED\tLAST USED\tSTATE", rows)
		return nil
	case "create":
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock token create NAME [--ttl 720h]")
			return errUsage
		}
		fs := newFlags("token create", stderr)
		ttl := fs.String("ttl", "", "lifetime, e.g. 720h (default: no expiry)")
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		var t struct{ Token string }
		if err := c.Do(ctx, http.MethodPost, "/api/v1/tokens", map[string]string{"name": args[1], "ttl": *ttl}, &t); err != nil {
			return err
		}
		fmt.Fprintln(stdout, t.Token)
		return nil
	case "revoke":
		return deleteNamed(ctx, c, stderr, args, "airlock token revoke ID", "/api/v1/tokens/")
	}
	fmt.Fprintf(stderr, "airlock token: unknown command %q (create, ls, revoke)\n", args[0])
	return errUsage
}

// deleteNamed is the `rm NAME` of the client commands: DELETE prefix+NAME.
func deleteNamed(ctx context.Context, c *cli.Client, stderr io.Writer, args []string, usage, prefix string) error {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: "+usage)
		return errUsage
	}
	return c.Do(ctx, http.MethodDelete, prefix+url.PathEscape(args[1]), nil, nil)
}
