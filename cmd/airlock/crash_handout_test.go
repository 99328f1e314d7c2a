package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// launchAnswer is one launch sent while the server was killed: its
// session, or the error that cut it off.
type launchAnswer struct {
	status int
	s      poolSession
	err    error
}

// tryLaunch POSTs a launch of workspace; a connection cut off by the
// crash is an answer too.
func (a *crashAPI) tryLaunch(workspace string) launchAnswer {
	raw, _ := json.Marshal(map[string]string{"workspace": workspace})
	req, err := http.NewRequest(http.MethodPost, a.base+"/api/v1/sessions", bytes.NewReader(raw))
	if err != nil {
		return launchAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return launchAnswer{err: err}
	}
	defer resp.Body.Close()
	out := launchAnswer{status: resp.StatusCode}
	if resp.StatusCode/100 == 2 {
		out.err = json.NewDecoder(resp.Body).Decode(&out.s)
	}
	return out
}

// TestServerKilledMidHandout: the server SIGKILLed while launches take
// warm sessions out of a pool and others start cold comes back with
// every session of those launches ready (its agent bound and
// heartbeating) or failed with a reason, none handed out twice, the pool
// refilled with sessions that were never handed out, and no container or
// network beyond the sessions that are live.
func TestServerKilledMidHandout(t *testing.T) {
	socket := dockertest.Client(t)
	bin := airlockBinary(t)
	data := t.TempDir()
	flags := []string{"--lifecycle-every=1s", "--agent-heartbeat=1s", "--max-sessions=20"}
	first := crashStartUp(t, bin, data, ":0", flags...)
	u, err := url.Parse(first.url)
	if err != nil {
		t.Fatal(err)
	}
	api := newCrashAPI(t, first.url, data)
	api.login()
	var deployment string
	t.Cleanup(func() {
		if deployment == "" {
			return
		}
		f := filters.NewArgs(filters.Arg("label", airlock.LabelDeployment+"="+deployment))
		list, _ := socket.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
		for _, c := range list {
			_ = socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		nets, _ := socket.NetworkList(context.Background(), network.ListOptions{Filters: f})
		for _, n := range nets {
			_ = socket.NetworkRemove(context.Background(), n.ID)
		}
	})
	const size, launches = 4, 8
	if status, body := api.do(http.MethodPut, "/api/v1/pools/minimal", map[string]any{"size": size}, nil); status != http.StatusOK {
		t.Fatalf("set the pool: %d %s", status, body)
	}
	warmBefore := waitWarm(t, api, size, 2*time.Minute)
	for id := range warmBefore {
		c := sessionContainers(t, socket, []string{id})[id]
		if len(c) == 1 {
			deployment = c[0].Labels[airlock.LabelDeployment]
		}
	}
	if deployment == "" {
		t.Fatal("the warm sessions' containers carry no deployment label")
	}

	// Launches at once; the server dies once as many have been answered
	// as the pool held: hand-outs answered, others committed or not, cold
	// launches under way.
	answers := make(chan launchAnswer, launches)
	var wg sync.WaitGroup
	for range launches {
		wg.Go(func() { answers <- api.tryLaunch("minimal") })
	}
	var all []launchAnswer
	for len(all) < size {
		all = append(all, <-answers)
	}
	first.crash(t)
	killed := time.Now()
	wg.Wait()
	close(answers)
	for a := range answers {
		all = append(all, a)
	}
	launched := map[string]bool{}
	handed := 0
	for _, a := range all {
		switch {
		case a.err == nil && a.status == http.StatusCreated:
			if launched[a.s.ID] {
				t.Fatalf("two launches got session %s", a.s.ID)
			}
			launched[a.s.ID] = true
			if warmBefore[a.s.ID] {
				handed++
			}
		case a.err == nil:
			t.Logf("launch answered %d before the crash", a.status)
		default:
			t.Logf("launch cut off by the crash: %v", a.err)
		}
	}
	t.Logf("%d launches answered before the SIGKILL, %d of them from the pool", len(launched), handed)

	second := crashStartUp(t, bin, data, ":"+u.Port(), flags...)
	restarted := time.Now()
	t.Logf("restarted %.1fs after the SIGKILL", restarted.Sub(killed).Seconds())
	api = newCrashAPI(t, second.url, data)
	api.login()

	// Every session of the admin settles: ready with its agent
	// heartbeating to the new server, or failed with a reason. A launch
	// cut off after its commit has a session the client never heard of;
	// it is judged the same.
	var mine map[string]poolSession
	for deadline := restarted.Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		mine = listSessions(t, api, false)
		settled := true
		for _, s := range mine {
			switch s.State {
			case "ready":
				settled = settled && s.HeartbeatAt != nil && s.HeartbeatAt.After(restarted)
			case "failed", "stopped":
				if s.Reason == "" {
					t.Fatalf("session %s is %s without a reason", s.ID, s.State)
				}
			default:
				settled = false
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions not settled 90s after the restart: %+v\nserver log:\n%s", mine, tail(second.errOut.String(), 4000))
		}
	}
	for id := range launched {
		if _, ok := mine[id]; !ok {
			t.Fatalf("launched session %s is not listed after the restart", id)
		}
	}
	states := map[string]int{}
	for _, s := range mine {
		states[s.State]++
	}
	t.Logf("after the restart the admin has %d sessions: %v", len(mine), states)
	// The pool refills with sessions never handed out.
	warmAfter := waitWarm(t, api, size, 2*time.Minute)
	for id := range warmAfter {
		if _, ok := mine[id]; ok {
			t.Fatalf("the refilled pool holds %s, which was handed out", id)
		}
	}
	// Nothing beyond the live sessions: one container and one network
	// each, within a round or two of the restart's reconciliation.
	live := map[string]bool{}
	for id := range warmAfter {
		live[id] = true
	}
	for id, s := range mine {
		if s.State == "ready" {
			live[id] = true
		}
	}
	waitDeployment(t, socket, deployment, live, 30*time.Second)

	for id, s := range mine {
		if s.State == "ready" {
			if status, body := api.do(http.MethodDelete, "/api/v1/sessions/"+id, nil, nil); status != http.StatusOK {
				t.Fatalf("delete session %s: %d %s", id, status, body)
			}
		}
	}
	if status, body := api.do(http.MethodPut, "/api/v1/pools/minimal", map[string]any{"size": 0}, nil); status != http.StatusOK {
		t.Fatalf("empty the pool: %d %s", status, body)
	}
	waitDeployment(t, socket, deployment, nil, time.Minute)
}

// listSessions are the sessions the api lists (all: every user's and
// the pools', active ones), by ID.
func listSessions(t *testing.T, api *crashAPI, all bool) map[string]poolSession {
	t.Helper()
	path := "/api/v1/sessions"
	if all {
		path += "?all=1&active=1"
	}
	var list []poolSession
	if status, body := api.do(http.MethodGet, path, nil, &list); status != http.StatusOK {
		t.Fatalf("list sessions: %d %s", status, body)
	}
	out := map[string]poolSession{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

// waitWarm waits until n sessions are warm, and returns their IDs.
func waitWarm(t *testing.T, api *crashAPI, n int, within time.Duration) map[string]bool {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		warm := map[string]bool{}
		for id, s := range listSessions(t, api, true) {
			if s.State == "warm" {
				warm[id] = true
			}
		}
		if len(warm) == n {
			return warm
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d warm sessions after %s, want %d", len(warm), within, n)
		}
	}
}

// waitDeployment waits until the deployment's containers (running) and
// networks are exactly one each for the sessions in live.
func waitDeployment(t *testing.T, socket interface {
	ContainerList(context.Context, container.ListOptions) ([]container.Summary, error)
	NetworkList(context.Context, network.ListOptions) ([]network.Summary, error)
}, deployment string, live map[string]bool, within time.Duration) {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", airlock.LabelDeployment+"="+deployment))
	var why string
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		cs, err := socket.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := socket.NetworkList(context.Background(), network.ListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		why = ""
		seen := map[string]int{}
		for _, c := range cs {
			id := c.Labels[airlock.LabelSession]
			seen[id]++
			if !live[id] || c.State != "running" {
				why += fmt.Sprintf("container %s of session %s (%s, live %v); ", c.ID[:12], id, c.State, live[id])
			}
		}
		nets := map[string]int{}
		for _, n := range ns {
			nets[n.Labels[airlock.LabelSession]]++
		}
		for id := range live {
			if seen[id] != 1 || nets[id] != 1 {
				why += fmt.Sprintf("session %s has %d containers and %d networks; ", id, seen[id], nets[id])
			}
		}
		for id, n := range nets {
			if !live[id] {
				why += fmt.Sprintf("%d networks of session %s, which is not live; ", n, id)
			}
		}
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, why)
		}
	}
}
