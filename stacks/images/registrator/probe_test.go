package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestProbeOnceFollowsConsulsRules(t *testing.T) {
	var status atomic.Int32
	status.Store(503)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer app.Close()
	c := &Check{HTTP: app.URL + "/health", Timeout: "1s"}
	if probeOnce(context.Background(), c) == nil {
		t.Error("HTTP 503 must not pass")
	}
	status.Store(429)
	if probeOnce(context.Background(), c) == nil {
		t.Error("HTTP 429 is Consul's warning, not passing")
	}
	status.Store(204)
	if err := probeOnce(context.Background(), c); err != nil {
		t.Errorf("HTTP 204 passes: %v", err)
	}
	addr := strings.TrimPrefix(app.URL, "http://")
	if err := probeOnce(context.Background(), &Check{TCP: addr}); err != nil {
		t.Errorf("TCP to a listening port passes: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	if probeOnce(context.Background(), &Check{TCP: closed}) == nil {
		t.Error("TCP to a closed port must not pass")
	}
}

func TestWaitPassingReturnsOnTheFirstPassAndNeverBefore(t *testing.T) {
	var ready atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(500)
		}
	}))
	defer app.Close()
	c := &Check{HTTP: app.URL}
	if waitPassing(context.Background(), []*Check{c}, 5*time.Millisecond, 100*time.Millisecond) {
		t.Fatal("a check that never passes: want false at the limit")
	}
	time.AfterFunc(50*time.Millisecond, func() { ready.Store(true) })
	t0 := time.Now()
	if !waitPassing(context.Background(), []*Check{c}, 5*time.Millisecond, 5*time.Second) {
		t.Fatal("want true once the app answers 200")
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Errorf("passed after %s, before the app was ready", d)
	}
}

func TestGatedChecksAndAsPassingLeaveTheUsersChoiceAlone(t *testing.T) {
	svcs := []Service{
		{ID: "a", Check: &Check{HTTP: "http://x/"}},
		{ID: "b", Check: &Check{TCP: "x:1", Status: "warning"}},
		{ID: "c"},
	}
	if got := gatedChecks(svcs); len(got) != 1 || got[0].HTTP != "http://x/" {
		t.Errorf("gatedChecks = %+v", got)
	}
	p := asPassing(svcs)
	if p[0].Check.Status != "passing" || p[1].Check.Status != "warning" || p[2].Check != nil {
		t.Errorf("asPassing = %+v %+v %+v", p[0].Check, p[1].Check, p[2].Check)
	}
	if svcs[0].Check.Status != "" {
		t.Error("asPassing must not change its input")
	}
}

func TestDockerHealthcheckDetection(t *testing.T) {
	c := parse(t, webJSON)
	if c.HasDockerHealthcheck() {
		t.Error("no Healthcheck, no Health: none")
	}
	c = parse(t, strings.Replace(webJSON, `"State": {"Running": true}`, `"State": {"Running": true, "Health": {"Status": "starting"}}`, 1))
	if !c.HasDockerHealthcheck() || c.DockerHealth() != "starting" {
		t.Errorf("Health starting: %v %q", c.HasDockerHealthcheck(), c.DockerHealth())
	}
	c = parse(t, strings.Replace(webJSON, `"ExposedPorts"`, `"Healthcheck": {"Test": ["NONE"]}, "ExposedPorts"`, 1))
	if c.HasDockerHealthcheck() {
		t.Error("HEALTHCHECK NONE is no healthcheck")
	}
}

// fakeConsul records registrations (with their check's initial status) and deregistrations.
type fakeConsul struct {
	mu    sync.Mutex
	reg   []Service
	dereg []string
	srv   *httptest.Server
}

func newFakeConsul(t *testing.T) *fakeConsul {
	f := &fakeConsul{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.URL.Path == "/v1/agent/service/register":
			var s Service
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &s)
			f.reg = append(f.reg, s)
		case strings.HasPrefix(r.URL.Path, "/v1/agent/service/deregister/"):
			f.dereg = append(f.dereg, strings.TrimPrefix(r.URL.Path, "/v1/agent/service/deregister/"))
		case r.URL.Path == "/v1/agent/services":
			out := map[string]AgentService{}
			for _, s := range f.reg {
				out[s.ID] = AgentService{ID: s.ID, Service: s.Name, Tags: s.Tags, Address: s.Address, Port: s.Port, Meta: s.Meta}
			}
			json.NewEncoder(w).Encode(out)
		}
	}))
	t.Cleanup(f.srv.Close)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	return f
}

func (f *fakeConsul) registered() []Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Service{}, f.reg...)
}

func healthJSON(status string) string {
	return strings.Replace(webJSON, `"State": {"Running": true}`, `"State": {"Running": true, "Health": {"Status": "`+status+`"}}`, 1)
}

func TestDockerHealthGatesRegistration(t *testing.T) {
	fc := newFakeConsul(t)
	r := newRegistrator(nil, NewConsul(fc.srv.URL), opts)
	ctx := context.Background()
	for _, st := range []string{"starting", "unhealthy"} {
		c := parse(t, healthJSON(st))
		r.admit(ctx, c, r.services(c))
		if n := len(fc.registered()); n != 0 {
			t.Fatalf("Docker health %s: %d registrations, want none", st, n)
		}
	}
	c := parse(t, healthJSON("healthy"))
	r.admit(ctx, c, r.services(c))
	got := fc.registered()
	if len(got) != 1 || got[0].Check == nil || got[0].Check.Status != "passing" {
		t.Fatalf("healthy: want one registration as passing, got %+v", got)
	}
	if len(r.probing) != 0 {
		t.Error("a Docker healthcheck is Docker's to judge: no probe")
	}
}

// The probed path: nothing is registered while the app fails its check; it is
// registered as passing once the check passes.
func TestProbeRegistersPassingOnlyOnceTheCheckPasses(t *testing.T) {
	fc := newFakeConsul(t)
	var ready atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(503)
		}
	}))
	defer app.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	js := strings.Replace(webJSON, `"49153"}, {"HostIp": "::", "HostPort": "49153"`, `"`+port+`"`, 1)
	js = strings.Replace(js, `"SERVICE_OWNER=team-a"`, `"SERVICE_CHECK_HTTP=/health"`, 1)
	c := parse(t, js)
	r := newRegistrator(nil, NewConsul(fc.srv.URL), Options{Hostname: "node1", HostIP: host})
	r.probeEvery = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.admit(ctx, c, r.services(c))
	if len(r.probing) != 1 {
		t.Fatal("want a probe under way")
	}
	select {
	case p := <-r.probed:
		t.Fatalf("probe finished while the app fails its check: %+v", p)
	case <-time.After(100 * time.Millisecond):
	}
	if n := len(fc.registered()); n != 0 {
		t.Fatalf("%d registrations before the check passed", n)
	}
	ready.Store(true)
	select {
	case p := <-r.probed:
		r.finishProbe(ctx, p)
	case <-time.After(5 * time.Second):
		t.Fatal("probe did not finish after the app became ready")
	}
	got := fc.registered()
	if len(got) != 1 || got[0].Check.Status != "passing" || !strings.HasSuffix(got[0].Check.HTTP, "/health") {
		t.Fatalf("want one registration as passing with the HTTP check, got %+v", got)
	}
}

// A container stopped while probed is never registered, even by a late result.
func TestStoppedProbeRegistersNothing(t *testing.T) {
	fc := newFakeConsul(t)
	r := newRegistrator(nil, NewConsul(fc.srv.URL), Options{Hostname: "node1", HostIP: "127.0.0.1"})
	c := parse(t, strings.Replace(webJSON, `"SERVICE_OWNER=team-a"`, `"SERVICE_CHECK_TCP=true"`, 1))
	ctx := context.Background()
	r.admit(ctx, c, r.services(c))
	p := r.probing[c.ID]
	if p == nil {
		t.Fatal("admit started no probe for a container with a TCP check")
	}
	r.stopProbe(c.ID)
	r.finishProbe(ctx, probeResult{id: c.ID, probe: p, svcs: r.services(c), passed: true})
	if n := len(fc.registered()); n != 0 {
		t.Fatalf("%d registrations of a stopped container", n)
	}
}

// Docker says "starting": the registrator runs the container's own
// healthcheck itself; a failing one is never registered, even though the
// app answers its Consul check, and a passing one is registered as passing.
func TestStartingContainerIsRegisteredOnlyWhenItsOwnHealthcheckPasses(t *testing.T) {
	for _, tc := range []struct {
		exit int
		want int
	}{{1, 0}, {0, 1}} {
		fc := newFakeConsul(t)
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
		js := strings.Replace(healthJSON("starting"), `"49153"}, {"HostIp": "::", "HostPort": "49153"`, `"`+port+`"`, 1)
		js = strings.Replace(js, `"SERVICE_OWNER=team-a"`, `"SERVICE_CHECK_HTTP=/health"`, 1)
		js = strings.Replace(js, `"ExposedPorts"`, `"Healthcheck": {"Test": ["CMD-SHELL", "exit 1"]}, "ExposedPorts"`, 1)
		c := parse(t, js)
		r := newRegistrator(nil, NewConsul(fc.srv.URL), Options{Hostname: "node1", HostIP: host})
		r.probeEvery, r.probeLimit = 2*time.Millisecond, 300*time.Millisecond
		var runs atomic.Int32
		var argv []string
		r.runHealthcheck = func(_ context.Context, c *Container) (int, error) {
			runs.Add(1)
			argv = healthcheckArgv(c)
			return tc.exit, nil
		}
		ctx := context.Background()
		r.admit(ctx, c, r.services(c))
		select {
		case p := <-r.probed:
			r.finishProbe(ctx, p)
		case <-time.After(5 * time.Second):
			t.Fatal("probe did not finish")
		}
		app.Close()
		got := fc.registered()
		if len(got) != tc.want {
			t.Fatalf("healthcheck exit %d: %d registrations, want %d: %+v", tc.exit, len(got), tc.want, got)
		}
		if tc.want == 1 && got[0].Check.Status != "passing" {
			t.Errorf("want registered as passing, got %q", got[0].Check.Status)
		}
		if runs.Load() == 0 || strings.Join(argv, " ") != "/bin/sh -c exit 1" {
			t.Errorf("healthcheck runs %d, argv %q", runs.Load(), argv)
		}
		if len(r.probing) != 0 {
			t.Error("probe left behind")
		}
	}
}

// fakeDocker serves /containers/json and /containers/ID/json for one container on a unix socket.
func fakeDocker(t *testing.T, container func() string) *Docker {
	// A short path: t.TempDir() carries the test's long name, and a unix
	// socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "fd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := dir + "/docker.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/containers/json"):
			w.Write([]byte(`[{"Id": "3f2a9c0d1e2b3c4d5e6f"}]`))
		case strings.HasSuffix(r.URL.Path, "/json"):
			w.Write([]byte(container()))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return NewDocker(sock)
}

// A resync while Docker still says "starting" keeps a registration made when
// the container's own healthcheck passed early; "unhealthy" removes it.
func TestSyncKeepsAnEarlyRegistrationWhileStartingAndRemovesAnUnhealthyOne(t *testing.T) {
	state := "starting"
	js := func() string {
		return strings.Replace(healthJSON(state), `"ExposedPorts"`, `"Healthcheck": {"Test": ["CMD-SHELL", "true"]}, "ExposedPorts"`, 1)
	}
	fc := newFakeConsul(t)
	r := newRegistrator(fakeDocker(t, js), NewConsul(fc.srv.URL), opts)
	ctx := context.Background()
	c := parse(t, js())
	svcs := asPassing(r.services(c))
	for _, s := range svcs {
		r.register(ctx, s) // as the early healthcheck run does
	}
	r.Sync(ctx)
	fc.mu.Lock()
	dereg := append([]string{}, fc.dereg...)
	fc.mu.Unlock()
	if len(dereg) != 0 {
		t.Fatalf("resync while starting deregistered %v", dereg)
	}
	if len(r.probing) != 0 {
		t.Error("an unchanged registration needs no probe")
	}
	state = "unhealthy"
	r.Sync(ctx)
	fc.mu.Lock()
	dereg = append([]string{}, fc.dereg...)
	fc.mu.Unlock()
	if len(dereg) != 1 || dereg[0] != svcs[0].ID {
		t.Fatalf("resync of an unhealthy container: deregistered %v, want [%s]", dereg, svcs[0].ID)
	}
}
