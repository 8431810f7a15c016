package main

import (
	"encoding/json"
	"reflect"
	"sort"
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
	got := Services(parse(t, webJSON), opts)
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
	got := Services(c, opts)
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
	if s := Services(ignored, opts); len(s) != 0 {
		t.Errorf("SERVICE_IGNORE: %+v", s)
	}
	stack := parse(t, `{"Id":"b","Name":"/paasbox_consul_1","Config":{"Image":"paasbox/consul:local","ExposedPorts":{"8500/tcp":{}}},
	  "State":{"Running":true},"HostConfig":{"NetworkMode":"host"},"NetworkSettings":{"Ports":{}}}`)
	if s := Services(stack, opts); len(s) != 0 {
		t.Errorf("host-networked stack service registered: %+v", s)
	}
	named := parse(t, `{"Id":"c","Name":"/hostapp","Config":{"Image":"x","Env":["SERVICE_NAME=hostapp"],"ExposedPorts":{"7000/tcp":{}}},
	  "State":{"Running":true},"HostConfig":{"NetworkMode":"host"},"NetworkSettings":{"Ports":{}}}`)
	if s := Services(named, opts); len(s) != 1 || s[0].Port != 7000 || s[0].Name != "hostapp" {
		t.Errorf("host-networked SERVICE_NAME app: %+v", s)
	}
	stopped := parse(t, webJSON)
	stopped.State.Running = false
	if s := Services(stopped, opts); len(s) != 0 {
		t.Errorf("stopped container registered: %+v", s)
	}
}

func TestUDPAndNames(t *testing.T) {
	c := parse(t, `{"Id":"d","Name":"/dns","Config":{"Image":"my_dns.server:1"},"State":{"Running":true},
	  "NetworkSettings":{"Ports":{"53/udp":[{"HostIp":"0.0.0.0","HostPort":"5353"}]}}}`)
	s := Services(c, Options{Hostname: "h"})
	if len(s) != 1 || s[0].ID != "h:dns:53:udp" || s[0].Name != "my-dns-server" || s[0].Check != nil || s[0].Address != "" {
		t.Errorf("udp service %+v", s)
	}
	for in, want := range map[string]string{"python": "python", "a/b/c:1": "c", "h:5000/x/y@sha256:ab": "y", "y:latest": "y"} {
		if got := ImageBaseName(in); got != want {
			t.Errorf("ImageBaseName(%q) = %q, want %q", in, got, want)
		}
	}
}
