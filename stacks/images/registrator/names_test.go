// Tests of names.go: who may register a service name (the pure decision and
// its use in Services) and the owners' cache over Consul's K/V API.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNameRefusal(t *testing.T) {
	unknown := errors.New("403 Permission denied")
	cases := []struct {
		what, name, app, owner string
		owned                  bool
		err                    error
		refused                string // "" = allowed, else a word of the reason
	}{
		{"unclaimed name, app", "python1", "/python1", "", false, nil, ""},
		{"unclaimed NAME-PORT of the owner", "python1-9090", "/python1", "", false, nil, ""},
		{"unowned name, no app id (today's behaviour)", "python1", "", "", false, nil, ""},
		{"owner registers its own name", "python1", "/python1", "/python1", true, nil, ""},
		{"another app", "python1", "/evil", "/python1", true, nil, "belongs to app /python1, not to app /evil"},
		{"no app id, owned name", "python1", "", "/python1", true, nil, "has no paasbox.marathon.id label"},
		{"an app takes a stack name", "consul", "/evil", "", false, nil, "the stack's own"},
		{"an app takes a stack name it owns in K/V", "haproxy", "/haproxy", "/haproxy", true, nil, "the stack's own"},
		{"an app takes mesos-slave", "mesos-slave", "/x", "", false, nil, "the stack's own"},
		{"the stack's container keeps its name", "consul", "", "", false, nil, ""},
		{"owners unknown, app", "python1", "/python1", "", false, unknown, "unknown"},
		{"owners unknown, no app id", "python1", "", "", false, unknown, ""},
		{"prefix is not ownership", "python1", "/python", "/python1", true, nil, "not to app /python"},
	}
	for _, c := range cases {
		got := NameRefusal(c.name, c.app, c.owner, c.owned, c.err)
		if c.refused == "" && got != "" {
			t.Errorf("%s: want allowed, got refused: %s", c.what, got)
		}
		if c.refused != "" && !strings.Contains(got, c.refused) {
			t.Errorf("%s: want refused (%q), got %q", c.what, c.refused, got)
		}
	}
}

// Every service of stacks/paasbox.yaml is a stack name.
func TestStackNamesCoverPaasboxYaml(t *testing.T) {
	b, err := os.ReadFile("../../paasbox.yaml")
	if err != nil && os.Getenv("CI") != "true" {
		t.Skip("stacks/paasbox.yaml not beside the sources (the image's build context)")
	} else if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(b), "\nservices:\n")
	names := regexp.MustCompile(`(?m)^  ([a-z0-9-]+):\s*$`).FindAllStringSubmatch(after, -1)
	if len(names) < 8 {
		t.Fatalf("found only %d services in stacks/paasbox.yaml", len(names))
	}
	for _, m := range names {
		if !StackNames[m[1]] {
			t.Errorf("service %q of stacks/paasbox.yaml is not in StackNames", m[1])
		}
	}
}

func labelled(t *testing.T, appID string, env ...string) *Container {
	c := app(t, env, false)
	c.Config.Labels = map[string]string{}
	if appID != "" {
		c.Config.Labels[AppIDLabel] = appID
	}
	return c
}

// ownedBy answers from a fixed map of name → owning app id (K/V as deploy left it).
func ownedBy(owners map[string]string) Owners {
	return func(name string) (string, bool, error) {
		owner, owned := owners[name]
		return owner, owned, nil
	}
}

func TestServicesRefusesANameOwnedByAnotherApp(t *testing.T) {
	o := opts
	o.Owners = ownedBy(map[string]string{"python1": "/python1", "evil": "/evil", "multi-9090": "/multi"})
	twoPorts := func(appID string, env ...string) *Container {
		c := labelled(t, appID, env...)
		c.NetworkSettings.Ports["9090/tcp"] = []PortBinding{{HostIP: "0.0.0.0", HostPort: "49154"}}
		return c
	}
	for _, c := range []struct {
		what           string
		c              *Container
		count, refused int
		why            string
	}{
		{"the owner", labelled(t, "/python1", "SERVICE_NAME=python1"), 1, 0, ""},
		{"another app", labelled(t, "/evil", "SERVICE_NAME=python1"), 0, 1, "belongs to app /python1"},
		{"no app id", labelled(t, "", "SERVICE_NAME=python1"), 0, 1, "no paasbox.marathon.id label"},
		{"no app id, a name no app owns", labelled(t, "", "SERVICE_NAME=web"), 1, 0, ""},
		{"another app, its own name", labelled(t, "/evil", "SERVICE_NAME=evil"), 1, 0, ""},
		{"an app, a stack name", labelled(t, "/evil", "SERVICE_NAME=haproxy"), 0, 1, "the stack's own"},
		{"an app, a name nobody owns", labelled(t, "/evil", "SERVICE_NAME=free"), 1, 0, ""},
		{"the owner, derived NAME-PORT names nobody owns", twoPorts("/python1", "SERVICE_NAME=python1"), 2, 0, ""},
		{"NAME-PORT owned by another app is refused", twoPorts("/evil", "SERVICE_NAME=multi"), 1, 1, "belongs to app /multi"},
		{"a case variant of its name", labelled(t, "/python1", "SERVICE_NAME=Python1"), 0, 1, "uppercase"},
	} {
		got, refused := Services(c.c, o)
		if len(got) != c.count {
			t.Errorf("%s: %d services, want %d (refused %v)", c.what, len(got), c.count, refused)
		}
		if len(refused) != c.refused {
			t.Errorf("%s: want %d refusals, got %v", c.what, c.refused, refused)
		}
		for _, r := range refused {
			if r.Note || !strings.Contains(r.Reason, c.why) {
				t.Errorf("%s: want a refusal saying %q, got %v", c.what, c.why, r)
			}
		}
	}
}

func TestAppCannotChooseItsServiceID(t *testing.T) {
	o := opts
	o.Owners = ownedBy(map[string]string{"evil": "/evil"})
	got, notes := Services(labelled(t, "/evil", "SERVICE_NAME=evil", "SERVICE_ID=node1:python1-1:8080"), o)
	if len(got) != 1 || got[0].ID == "node1:python1-1:8080" || !strings.HasPrefix(got[0].ID, "node1:") {
		t.Fatalf("an app's SERVICE_ID must be ignored: %+v", got)
	}
	if len(notes) != 1 || !notes[0].Note || !strings.Contains(notes[0].String(), "SERVICE_ID") {
		t.Errorf("want one note that SERVICE_ID was ignored, got %v", notes)
	}
	got, _ = Services(labelled(t, "", "SERVICE_NAME=web", "SERVICE_ID=mine"), o)
	if len(got) != 1 || got[0].ID != "mine" {
		t.Errorf("a container without an app id keeps SERVICE_ID: %+v", got)
	}
}

func kvServer(t *testing.T, owners *atomic.Value, index *atomic.Uint64, status int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/kv/paasbox/names/" || r.URL.Query().Get("recurse") == "" {
			http.NotFound(w, r)
			return
		}
		if want := r.URL.Query().Get("index"); want != "" {
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if want != itoa(index.Load()) {
					break
				}
			}
		}
		w.Header().Set("X-Consul-Index", itoa(index.Load()))
		if status != 200 {
			http.Error(w, "Permission denied", status)
			return
		}
		m := owners.Load().(map[string]string)
		if len(m) == 0 {
			http.NotFound(w, r)
			return
		}
		var parts []string
		for k, v := range m {
			parts = append(parts, `{"Key":"paasbox/names/`+k+`","Value":"`+base64.StdEncoding.EncodeToString([]byte(v))+`"}`)
		}
		w.Write([]byte("[" + strings.Join(parts, ",") + "]"))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestNameCacheFollowsKVWithoutARoundTripPerLookup(t *testing.T) {
	var owners atomic.Value
	owners.Store(map[string]string{})
	var index atomic.Uint64
	index.Store(7)
	srv, calls := kvServer(t, &owners, &index, 200)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	n := NewNameCache(NewConsul(srv.URL))
	if err := n.Load(context.Background()); err != nil {
		t.Fatalf("no owner yet (404) is not an error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Watch(ctx)
	before := calls.Load()
	for i := 0; i < 1000; i++ {
		if _, owned, err := n.Owner("python1"); owned || err != nil {
			t.Fatalf("python1 is not owned yet: %v %v", owned, err)
		}
	}
	if d := calls.Load() - before; d > 2 {
		t.Errorf("1000 lookups made %d Consul requests: the cache must answer", d)
	}
	owners.Store(map[string]string{"python1": "/python1"})
	t0 := time.Now()
	index.Store(8)
	for {
		if o, owned, _ := n.Owner("python1"); owned && o == "/python1" {
			break
		}
		if time.Since(t0) > time.Second {
			t.Fatal("the K/V write did not reach the cache within 1 s")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("K/V change reached the cache in %s", time.Since(t0))
}

func TestNameCacheUnreadableRefusesAppsOnly(t *testing.T) {
	var owners atomic.Value
	owners.Store(map[string]string{})
	var index atomic.Uint64
	index.Store(1)
	srv, _ := kvServer(t, &owners, &index, 403)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	n := NewNameCache(NewConsul(srv.URL))
	if err := n.Load(context.Background()); err == nil {
		t.Fatal("a 403 must be an error")
	}
	o := opts
	o.Owners = n.Owner
	if got, _ := Services(labelled(t, "/python1", "SERVICE_NAME=python1"), o); len(got) != 0 {
		t.Errorf("owners unknown: an app must be refused, got %+v", got)
	}
	if got, _ := Services(labelled(t, "", "SERVICE_NAME=web"), o); len(got) != 1 {
		t.Errorf("owners unknown: a container without an app id registers as before, got %+v", got)
	}
}

func BenchmarkServicesWithOwners(b *testing.B) {
	n := &NameCache{owners: map[string]string{"python1": "/python1"}, loaded: true}
	o := opts
	o.Owners = n.Owner
	var c Container
	c.State.Running = true
	c.Name = "/web"
	c.Config.Env = []string{"SERVICE_NAME=python1"}
	c.Config.Labels = map[string]string{AppIDLabel: "/python1"}
	c.NetworkSettings.Ports = map[string][]PortBinding{"8080/tcp": {{HostIP: "0.0.0.0", HostPort: "49153"}}}
	for i := 0; i < b.N; i++ {
		if got, _ := Services(&c, o); len(got) != 1 {
			b.Fatal(got)
		}
	}
}
