package main

import (
	"bytes"
	"encoding/json"
	"log"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// A trimmed `docker inspect` of `docker run -d -P -e SERVICE_NAME=python1 ...`
// on Docker 20.10 (it lists an IPv4 and an IPv6 binding per port).
const webJSON = `{
  "Id": "3f2a9c0d1e2b3c4d5e6f",
  "Name": "/web-1",
  "Config": {"Hostname": "3f2a9c0d1e2b", "Image": "paasbox/simplewebapp-python:latest",
    "Env": ["PATH=/usr/bin", "SERVICE_NAME=python1", "SERVICE_TAGS=http, weight=3", "SERVICE_OWNER=team-a"],
    "Labels": {}, "ExposedPorts": {"8080/tcp": {}}},
  "State": {"Running": true},
  "HostConfig": {"NetworkMode": "default"},
  "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}, {"HostIp": "::", "HostPort": "49153"}]}}
}`

func parse(t *testing.T, s string) *Container {
	t.Helper()
	var c Container
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

var opts = Options{Hostname: "node1", HostIP: "10.0.0.5"}

func TestSinglePortNamedService(t *testing.T) {
	got, _ := Services(parse(t, webJSON), opts)
	if len(got) != 1 {
		t.Fatalf("want 1 service (IPv4+IPv6 bindings of one port), got %d: %+v", len(got), got)
	}
	s := got[0]
	if s.ID != "node1:web-1:8080" || s.Name != "python1" || s.Port != 49153 || s.Address != "10.0.0.5" {
		t.Errorf("unexpected service %+v", s)
	}
	if !reflect.DeepEqual(s.Tags, []string{"http", "weight=3"}) {
		t.Errorf("tags %v", s.Tags)
	}
	if s.Meta["owner"] != "team-a" || s.Meta["container_id"] != "3f2a9c0d1e2b" {
		t.Errorf("meta %v", s.Meta)
	}
	if s.Check == nil || s.Check.TCP != "10.0.0.5:49153" || s.Check.Interval != "2s" || s.Check.DeregisterCriticalServiceAfter != "1m" {
		t.Errorf("default check %+v", s.Check)
	}
}

func TestMultiPortNamesAndPerPortOverrides(t *testing.T) {
	c := parse(t, `{"Id":"abc","Name":"/db","Config":{"Image":"registry.local:5000/lib/redis:7@sha256:00",
	  "Env":["SERVICE_6380_NAME=redis-replica","SERVICE_6380_TAGS=tcp=6380","SERVICE_TAGS=tcp","SERVICE_6379_CHECK_HTTP=health"],
	  "Labels":{"SERVICE_TAGS":"fromlabel"}},
	  "State":{"Running":true},"HostConfig":{"NetworkMode":"bridge"},
	  "NetworkSettings":{"Ports":{"6379/tcp":[{"HostIp":"0.0.0.0","HostPort":"32001"}],"6380/tcp":[{"HostIp":"0.0.0.0","HostPort":"32002"}],"9999/tcp":null}}}`)
	got, _ := Services(c, opts)
	if len(got) != 2 {
		t.Fatalf("want 2 services (9999 is not published), got %+v", got)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Port < got[j].Port })
	if got[0].Name != "redis-6379" || got[1].Name != "redis-replica" {
		t.Errorf("names %q %q: default is image base name + -port, SERVICE_<port>_NAME wins as is", got[0].Name, got[1].Name)
	}
	if !reflect.DeepEqual(got[0].Tags, []string{"fromlabel"}) || !reflect.DeepEqual(got[1].Tags, []string{"tcp=6380"}) {
		t.Errorf("tags %v %v: labels override env, per-port overrides general", got[0].Tags, got[1].Tags)
	}
	if got[0].Check == nil || got[0].Check.HTTP != "http://10.0.0.5:32001/health" {
		t.Errorf("http check %+v", got[0].Check)
	}
	if got[1].Check == nil || got[1].Check.TCP != "10.0.0.5:32002" {
		t.Errorf("tcp check %+v", got[1].Check)
	}
}

func TestIgnoredHostNetworkAndStopped(t *testing.T) {
	ignored := parse(t, `{"Id":"a","Name":"/x","Config":{"Image":"x","Env":["SERVICE_IGNORE=true"]},"State":{"Running":true},
	  "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8081"}]}}}`)
	if s, _ := Services(ignored, opts); len(s) != 0 {
		t.Errorf("SERVICE_IGNORE: %+v", s)
	}
	stack := parse(t, `{"Id":"b","Name":"/paasbox_consul_1","Config":{"Image":"paasbox/consul:local","ExposedPorts":{"8500/tcp":{}}},
	  "State":{"Running":true},"HostConfig":{"NetworkMode":"host"},"NetworkSettings":{"Ports":{}}}`)
	if s, _ := Services(stack, opts); len(s) != 0 {
		t.Errorf("host-networked stack service registered: %+v", s)
	}
	named := parse(t, `{"Id":"c","Name":"/hostapp","Config":{"Image":"x","Env":["SERVICE_NAME=hostapp"],"ExposedPorts":{"7000/tcp":{}}},
	  "State":{"Running":true},"HostConfig":{"NetworkMode":"host"},"NetworkSettings":{"Ports":{}}}`)
	if s, _ := Services(named, opts); len(s) != 1 || s[0].Port != 7000 || s[0].Name != "hostapp" {
		t.Errorf("host-networked SERVICE_NAME app: %+v", s)
	}
	stopped := parse(t, webJSON)
	stopped.State.Running = false
	if s, _ := Services(stopped, opts); len(s) != 0 {
		t.Errorf("stopped container registered: %+v", s)
	}
}

func TestUDPAndNames(t *testing.T) {
	c := parse(t, `{"Id":"d","Name":"/dns","Config":{"Image":"my_dns.server:1"},"State":{"Running":true},
	  "NetworkSettings":{"Ports":{"53/udp":[{"HostIp":"0.0.0.0","HostPort":"5353"}]}}}`)
	s, _ := Services(c, Options{Hostname: "h"})
	if len(s) != 1 || s[0].ID != "h:dns:53:udp" || s[0].Name != "my-dns-server" || s[0].Check != nil || s[0].Address != "" {
		t.Errorf("udp service %+v", s)
	}
	for in, want := range map[string]string{"python": "python", "a/b/c:1": "c", "h:5000/x/y@sha256:ab": "y", "y:latest": "y"} {
		if got := ImageBaseName(in); got != want {
			t.Errorf("ImageBaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

// app builds a running bridge-networked container publishing 8080 and 9090
// (two ports, so the general SERVICE_NAME gets a -port suffix) or only 8080.
func app(t *testing.T, env []string, twoPorts bool) *Container {
	t.Helper()
	c := parse(t, webJSON)
	c.Config.Env = env
	if twoPorts {
		c.NetworkSettings.Ports["9090/tcp"] = []PortBinding{{HostIP: "0.0.0.0", HostPort: "49154"}}
	}
	return c
}

func TestRefusesNamesThatAreNotDNSLabels(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []struct {
		env  []string
		two  bool
		why  string // in the refusal
		from string // which variable the refusal names
	}{
		{[]string{"SERVICE_NAME=my service"}, false, "is not a DNS label", "SERVICE_NAME"},
		{[]string{"SERVICE_NAME=Python1"}, false, "has uppercase letters", "SERVICE_NAME"},
		{[]string{"SERVICE_NAME=-web"}, false, "is not a DNS label", "SERVICE_NAME"},
		{[]string{"SERVICE_NAME=web-"}, false, "is not a DNS label", "SERVICE_NAME"},
		{[]string{"SERVICE_NAME=a.b"}, false, "is not a DNS label", "SERVICE_NAME"},
		{[]string{"SERVICE_NAME=web\nuse_backend x if TRUE"}, false, "is not a DNS label", "SERVICE_NAME"},
		{[]string{"SERVICE_NAME=" + long}, false, "is 64 characters long", "SERVICE_NAME"},
		{[]string{"SERVICE_8080_NAME=bad_name"}, true, "is not a DNS label", "SERVICE_8080_NAME"},
		// 59 + "-8080" = 64: the suffix makes an acceptable name too long (both ports).
		{[]string{"SERVICE_NAME=" + long[:59]}, true, "is 64 characters long", "SERVICE_NAME"},
	}
	for _, tc := range cases {
		c := app(t, tc.env, tc.two)
		got, refused := Services(c, opts)
		for _, s := range got {
			if s.Port == 49153 {
				t.Errorf("%q: registered %+v, want refused", tc.env, s)
			}
		}
		if len(refused) == 0 {
			t.Fatalf("%q: want a refusal, got none", tc.env)
		}
		f := refused[0]
		if f.Container != "web-1" || f.Port != "8080/tcp" || !strings.Contains(f.Reason, tc.why) || !strings.Contains(f.Reason, "(from "+tc.from+")") {
			t.Errorf("%q: refusal %+v, want container web-1, port 8080/tcp, %q, from %s", tc.env, f, tc.why, tc.from)
		}
		if !strings.Contains(f.String(), "container web-1 port 8080/tcp not registered: ") {
			t.Errorf("log line %q does not name the container and port", f.String())
		}
	}
}

func TestOneBadPortDoesNotStopTheOthers(t *testing.T) {
	c := app(t, []string{"SERVICE_8080_NAME=my service", "SERVICE_9090_NAME=admin"}, true)
	got, refused := Services(c, opts)
	if len(got) != 1 || got[0].Name != "admin" || got[0].Port != 49154 {
		t.Errorf("want only admin on 49154 registered, got %+v", got)
	}
	if len(refused) != 1 || refused[0].Port != "8080/tcp" {
		t.Errorf("refusals %+v", refused)
	}
}

func TestAcceptsDNSLabelsAndSanitisesImageNames(t *testing.T) {
	for _, n := range []string{"a", "python1", "web-api", "x" + strings.Repeat("-", 61) + "y", "0day"} {
		got, refused := Services(app(t, []string{"SERVICE_NAME=" + n}, false), opts)
		if len(got) != 1 || got[0].Name != n || len(refused) != 0 {
			t.Errorf("SERVICE_NAME=%q: got %+v refused %+v", n, got, refused)
		}
	}
	// A name nobody chose (from the image) is made a label rather than refused.
	c := app(t, nil, false)
	c.Config.Image = "Registry:5000/Team/My_App.Server:1"
	got, _ := Services(c, opts)
	if len(got) != 1 || got[0].Name != "my-app-server" {
		t.Errorf("image-derived name: %+v", got)
	}
	c.Config.Image = "___:1"
	got, refused := Services(c, opts)
	if len(got) != 0 || len(refused) != 1 || !strings.Contains(refused[0].Reason, `is empty`) || !strings.Contains(refused[0].Reason, `the image name "___:1"`) {
		t.Errorf("image with no usable name: got %+v refused %+v", got, refused)
	}
}

func TestRefusesTagsWithControlCharacters(t *testing.T) {
	for _, tag := range []string{"path=/x\nuse_backend evil if TRUE", "http\r", "a\tb", "x\x00", "x\x7f", "x\u0085", "x\u2028", "\xff"} {
		// Through labels: env values cannot carry every byte, labels can.
		c := app(t, []string{"SERVICE_NAME=web"}, false)
		c.Config.Labels = map[string]string{"SERVICE_TAGS": "http," + tag}
		got, refused := Services(c, opts)
		if len(got) != 0 {
			t.Errorf("tag %q: registered %+v", tag, got)
		}
		if len(refused) != 1 || !strings.Contains(refused[0].Reason, "tag ") || !(strings.Contains(refused[0].Reason, "control character") || strings.Contains(refused[0].Reason, "UTF-8")) {
			t.Errorf("tag %q: refusals %+v", tag, refused)
		}
	}
	// Plain printable tags, including ones the HAProxy template itself skips, pass here.
	c := app(t, []string{"SERVICE_NAME=web", "SERVICE_TAGS=http,path=/a b,weight=3,tcp=9000"}, false)
	got, refused := Services(c, opts)
	if len(got) != 1 || len(refused) != 0 || !reflect.DeepEqual(got[0].Tags, []string{"http", "path=/a b", "weight=3", "tcp=9000"}) {
		t.Errorf("plain tags: got %+v refused %+v", got, refused)
	}
	// Forced tags are checked too (main refuses to start with a bad one).
	_, refused = Services(app(t, []string{"SERVICE_NAME=web"}, false), Options{Hostname: "h", ForceTags: []string{"a\nb"}})
	if len(refused) != 1 {
		t.Errorf("forced tag with a newline: %+v", refused)
	}
}

func TestRefusesServiceIDWithControlCharacters(t *testing.T) {
	got, refused := Services(app(t, []string{"SERVICE_NAME=web", "SERVICE_ID=a\nb"}, false), opts)
	if len(got) != 0 || len(refused) != 1 || !strings.Contains(refused[0].Reason, "SERVICE_ID") {
		t.Errorf("got %+v refused %+v", got, refused)
	}
}

func TestRefusalLoggedOncePerContainerUntilItStops(t *testing.T) {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	r := &Registrator{opts: opts, logged: map[string]bool{}}
	c := app(t, []string{"SERVICE_NAME=my service"}, false)
	for i := 0; i < 3; i++ {
		if got := r.services(c); len(got) != 0 {
			t.Fatalf("registered %+v", got)
		}
	}
	if n := strings.Count(buf.String(), "refused: container web-1 port 8080/tcp not registered: service name \"my service\""); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, buf.String())
	}
	r.forget(c.ID)
	r.services(c)
	if n := strings.Count(buf.String(), "refused: "); n != 2 {
		t.Errorf("after the container stopped and came back: logged %d times, want 2", n)
	}
}

// Once a host port is taken on one address family only, Docker's IPv4 and
// IPv6 allocators drift apart and each later container gets two different
// host ports for one exposed port (seen in CI: python2 became "python2-8080"
// and never routed by name). One port, the registered address's family.
func TestDriftedIPv4AndIPv6BindingsAreOnePort(t *testing.T) {
	drifted := strings.Replace(webJSON, `{"HostIp": "::", "HostPort": "49153"}`, `{"HostIp": "::", "HostPort": "49152"}`, 1)
	got, _ := Services(parse(t, drifted), opts)
	if len(got) != 1 || got[0].Name != "python1" || got[0].Port != 49153 || got[0].Check.TCP != "10.0.0.5:49153" {
		t.Fatalf("IPv4 host address: want python1 on 49153 only, got %+v", got)
	}
	// IPv6 listed first, IPv4 second: still the IPv4 one for an IPv4 address.
	swapped := strings.Replace(drifted, `[{"HostIp": "0.0.0.0", "HostPort": "49153"}, {"HostIp": "::", "HostPort": "49152"}]`, `[{"HostIp": "::", "HostPort": "49152"}, {"HostIp": "0.0.0.0", "HostPort": "49153"}]`, 1)
	if swapped == drifted {
		t.Fatal("fixture did not change")
	}
	if got, _ := Services(parse(t, swapped), opts); len(got) != 1 || got[0].Port != 49153 {
		t.Fatalf("IPv6 binding first: want 49153, got %+v", got)
	}
	v6 := Options{Hostname: "node1", HostIP: "fd00::5"}
	if got, _ := Services(parse(t, drifted), v6); len(got) != 1 || got[0].Name != "python1" || got[0].Port != 49152 {
		t.Fatalf("IPv6 host address: want python1 on 49152 only, got %+v", got)
	}
}

// container_id is how a stopped container's services are found and
// deregistered: an app's SERVICE_CONTAINER_ID (env, label or per port) is
// ignored with a note; a container without an app id is left as it was.
func TestAppCannotOverwriteContainerID(t *testing.T) {
	o := opts
	o.Owners = func(name string) (string, bool, error) { return "/python1", name == "python1", nil }
	viaLabel := labelled(t, "/python1", "SERVICE_NAME=python1")
	viaLabel.Config.Labels["SERVICE_CONTAINER_ID"] = "0123456789ab"
	for what, c := range map[string]*Container{
		"env":      labelled(t, "/python1", "SERVICE_NAME=python1", "SERVICE_CONTAINER_ID=0123456789ab"),
		"label":    viaLabel,
		"per port": labelled(t, "/python1", "SERVICE_NAME=python1", "SERVICE_8080_CONTAINER_ID=0123456789ab"),
	} {
		got, notes := Services(c, o)
		if len(got) != 1 || got[0].Meta["container_id"] != "3f2a9c0d1e2b" {
			t.Errorf("%s: an app's SERVICE_CONTAINER_ID must be ignored: %+v", what, got)
		}
		if len(notes) != 1 || !notes[0].Note || !strings.Contains(notes[0].String(), "SERVICE_CONTAINER_ID") {
			t.Errorf("%s: want one note that SERVICE_CONTAINER_ID was ignored, got %v", what, notes)
		}
	}
	got, notes := Services(labelled(t, "", "SERVICE_NAME=web", "SERVICE_CONTAINER_ID=0123456789ab"), o)
	if len(got) != 1 || got[0].Meta["container_id"] != "0123456789ab" || len(notes) != 0 {
		t.Errorf("a container without an app id is unchanged: %+v %v", got, notes)
	}
}
