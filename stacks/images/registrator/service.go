// Pure derivation of Consul service definitions from a container's inspect
// JSON, following gliderlabs Registrator's contract (SERVICE_NAME, SERVICE_TAGS,
// SERVICE_<port>_NAME, SERVICE_CHECK_*, SERVICE_IGNORE), so apps written for
// Registrator work unchanged.
package main

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Container is the part of Docker's /containers/ID/json answer we read.
type Container struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Config struct {
		Hostname     string              `json:"Hostname"`
		Image        string              `json:"Image"`
		Env          []string            `json:"Env"`
		Labels       map[string]string   `json:"Labels"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Healthcheck  *struct {
			Test    []string `json:"Test"`
			Timeout int64    `json:"Timeout"` // ns; 0 = Docker's default, 30s
		} `json:"Healthcheck"`
	} `json:"Config"`
	State struct {
		Running bool `json:"Running"`
		Health  *struct {
			Status string `json:"Status"` // starting | healthy | unhealthy
		} `json:"Health"`
	} `json:"State"`
	HostConfig struct {
		NetworkMode string `json:"NetworkMode"`
	} `json:"HostConfig"`
	NetworkSettings struct {
		Ports map[string][]PortBinding `json:"Ports"`
	} `json:"NetworkSettings"`
}

// HasDockerHealthcheck tells whether Docker itself judges the container's
// health (a HEALTHCHECK in the image or --health-cmd, not disabled with NONE):
// then Docker's verdict gates the registration.
func (c *Container) HasDockerHealthcheck() bool {
	hc := c.Config.Healthcheck
	return hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" || c.State.Health != nil && c.State.Health.Status != ""
}

// DockerHealth is Docker's health status ("starting", "healthy",
// "unhealthy"), "" when the container has no healthcheck.
func (c *Container) DockerHealth() string {
	if c.State.Health == nil {
		return ""
	}
	return c.State.Health.Status
}

// PortBinding is one published address of a container port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// Check is a Consul agent check definition (PUT /v1/agent/service/register).
type Check struct {
	HTTP                           string `json:"HTTP,omitempty"`
	TCP                            string `json:"TCP,omitempty"`
	Interval                       string `json:"Interval"`
	Timeout                        string `json:"Timeout,omitempty"`
	Status                         string `json:"Status,omitempty"`
	DeregisterCriticalServiceAfter string `json:"DeregisterCriticalServiceAfter,omitempty"`
}

// Service is a Consul agent service registration.
type Service struct {
	ID      string            `json:"ID"`
	Name    string            `json:"Name"`
	Tags    []string          `json:"Tags"`
	Address string            `json:"Address"`
	Port    int               `json:"Port"`
	Meta    map[string]string `json:"Meta,omitempty"`
	Check   *Check            `json:"Check,omitempty"`
}

// Options are the registrator-wide settings that shape every service.
type Options struct {
	Hostname        string   // prefix of every service ID, identifies this registrator's services
	HostIP          string   // REGISTRATOR_HOST_IP: the address other hosts reach published ports at
	ForceTags       []string // tags added to every service
	CheckInterval   string   // default check interval
	DeregisterAfter string   // Consul deregister_critical_service_after for the default checks
	// Owners answers which app owns a service name (names.go); nil: none is owned.
	Owners Owners
}

// port is one container port with the host port it is published on.
type port struct {
	exposed  string // "80"
	proto    string // "tcp" | "udp"
	hostIP   string
	hostPort int
}

// reserved metadata keys; every other SERVICE_X becomes Consul service Meta.
var reserved = map[string]bool{"name": true, "tags": true, "ignore": true, "id": true}

var metaKey = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

// metadata merges env then labels (labels win, as in Registrator), general
// SERVICE_X first then SERVICE_<port>_X. fromPort tells which keys were
// port-specific.
func metadata(c *Container, exposed string) (map[string]string, map[string]bool) {
	kvs := append([]string{}, c.Config.Env...)
	keys := make([]string, 0, len(c.Config.Labels))
	for k := range c.Config.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kvs = append(kvs, k+"="+c.Config.Labels[k])
	}
	meta := map[string]string{}
	fromPort := map[string]bool{}
	portPrefix := "SERVICE_" + exposed + "_"
	var specific [][2]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "SERVICE_") {
			continue
		}
		if strings.HasPrefix(k, portPrefix) {
			specific = append(specific, [2]string{strings.ToLower(strings.TrimPrefix(k, portPrefix)), v})
			continue
		}
		rest := strings.TrimPrefix(k, "SERVICE_")
		// SERVICE_8080_NAME belongs to another port: skip it for this one.
		if i := strings.Index(rest, "_"); i > 0 {
			if _, err := strconv.Atoi(rest[:i]); err == nil {
				continue
			}
		}
		meta[strings.ToLower(rest)] = v
	}
	for _, kv := range specific {
		meta[kv[0]] = kv[1]
		fromPort[kv[0]] = true
	}
	return meta, fromPort
}

func hasKey(c *Container, key string) (string, bool) {
	for k, v := range c.Config.Labels {
		if k == key {
			return v, true
		}
	}
	for _, kv := range c.Config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// ImageBaseName is "python" for "registry:5000/lib/python:3.11@sha256:...".
func ImageBaseName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	if i := strings.Index(image, ":"); i >= 0 {
		image = image[:i]
	}
	return image
}

// publishedPorts lists the ports to register, one per exposed port: its
// published binding (HostPort set), or for host-networked containers the
// exposed port itself (host port = port). Docker binds each published port on
// 0.0.0.0 and on ::, normally to one host port; once a port is taken on one
// family only (any process may hold a port in Docker's range), its allocators
// drift apart and every later container gets two different host ports
// (0.0.0.0:32782 and [::]:32781). Both would make two ports of one and rename
// the service NAME-PORT, so the binding kept is the one of the registered
// address's family (IPv4 unless REGISTRATOR_HOST_IP is IPv6).
func publishedPorts(c *Container, v6 bool) []port {
	var out []port
	if c.HostConfig.NetworkMode == "host" {
		for p := range c.Config.ExposedPorts {
			num, proto := splitPort(p)
			if n, err := strconv.Atoi(num); err == nil {
				out = append(out, port{exposed: num, proto: proto, hostPort: n})
			}
		}
	} else {
		for p, bindings := range c.NetworkSettings.Ports {
			num, proto := splitPort(p)
			var pick *port
			for _, b := range bindings {
				n, err := strconv.Atoi(b.HostPort)
				if err != nil || n == 0 {
					continue
				}
				if pick == nil || (isV6(pick.hostIP) != v6 && isV6(b.HostIP) == v6) {
					pick = &port{exposed: num, proto: proto, hostIP: b.HostIP, hostPort: n}
				}
			}
			if pick != nil {
				out = append(out, *pick)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].exposed != out[j].exposed {
			return out[i].exposed < out[j].exposed
		}
		return out[i].proto < out[j].proto
	})
	return out
}

// isV6 tells whether a binding's or the host's address is IPv6 ("::", "fd00::5").
func isV6(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.To4() == nil
}

func splitPort(p string) (string, string) {
	num, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	return num, proto
}

// splitTags trims only spaces: other whitespace (\r, \n, \u2028...) stays in
// the tag, so Services refuses it instead of quietly accepting a value that
// was built to break a line.
func splitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.Trim(t, " "); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// Refusal is a port of a container that is not registered because of what it
// asks for (a name that is not a DNS label, a tag with control characters).
type Refusal struct {
	Container string // container name, without the leading slash
	Port      string // exposed port, e.g. "8080/tcp"
	Reason    string
	// Note: registered all the same, Reason says what was ignored.
	Note bool
}

func (r Refusal) String() string {
	if r.Note {
		return fmt.Sprintf("container %s port %s: %s", r.Container, r.Port, r.Reason)
	}
	return fmt.Sprintf("container %s port %s not registered: %s", r.Container, r.Port, r.Reason)
}

// Services derives the Consul registrations for one container; none when the
// container is not running, is ignored, or publishes nothing. A port whose
// name or tags are unsafe is refused (and reported) rather than registered:
// names become DNS names and HAProxy backend names, tags are read by the
// HAProxy template, so neither may carry anything but plain text.
func Services(c *Container, o Options) ([]Service, []Refusal) {
	if !c.State.Running {
		return nil, nil
	}
	if v, ok := hasKey(c, "SERVICE_IGNORE"); ok && v != "" && v != "false" && v != "0" {
		return nil, nil
	}
	// The stack's own host-networked services are not apps: only an explicit
	// SERVICE_NAME makes one of them a service.
	if _, named := hasKey(c, "SERVICE_NAME"); c.HostConfig.NetworkMode == "host" && !named {
		return nil, nil
	}
	ports := publishedPorts(c, isV6(o.HostIP))
	group := len(ports) > 1
	name := strings.TrimPrefix(c.Name, "/")
	// An app's tasks carry its Marathon id (never set by the app itself: the
	// deploy policy refuses paasbox.* labels); the stack's containers none.
	appID := c.Config.Labels[AppIDLabel]
	var out []Service
	var refused []Refusal
	for _, p := range ports {
		meta, fromPort := metadata(c, p.exposed)
		if v := meta["ignore"]; v != "" && v != "false" && v != "0" {
			continue
		}
		refuse := func(why string) { refused = append(refused, Refusal{name, p.exposed + "/" + p.proto, why, false}) }
		s := Service{Port: p.hostPort}
		s.ID = o.Hostname + ":" + name + ":" + p.exposed
		if p.proto == "udp" {
			s.ID += ":udp"
		}
		if id := meta["id"]; id != "" && appID == "" {
			s.ID = id
		} else if id != "" {
			// An app's IDs are derived, never chosen: one could name another's.
			refused = append(refused, Refusal{name, p.exposed + "/" + p.proto,
				fmt.Sprintf("SERVICE_ID %q ignored for app %s; registered as %s", id, appID, s.ID), true})
		}
		if bad := firstBadRune(s.ID); bad != "" {
			refuse(fmt.Sprintf("SERVICE_ID %q contains %s", s.ID, bad))
			continue
		}
		explicit := meta["name"] != ""
		s.Name = meta["name"]
		if !explicit {
			// Derived from the image ("my_dns.server" → "my-dns-server"): made a
			// label here, since the user never chose it.
			s.Name = sanitizeName(ImageBaseName(c.Config.Image))
		}
		if group && !fromPort["name"] {
			s.Name += "-" + p.exposed
		}
		if why := dnsLabelProblem(s.Name); why != "" {
			src := "the image name " + strconv.Quote(c.Config.Image)
			if explicit {
				src = "SERVICE_NAME"
				if fromPort["name"] {
					src = "SERVICE_" + p.exposed + "_NAME"
				}
			}
			refuse(fmt.Sprintf("service name %q (from %s) %s; use lowercase letters, digits and dashes, at most 63, not starting or ending with a dash", s.Name, src, why))
			continue
		}
		var owner string
		var owned bool
		var ownersErr error
		if o.Owners != nil {
			owner, owned, ownersErr = o.Owners(s.Name)
		}
		if why := NameRefusal(s.Name, appID, owner, owned, ownersErr); why != "" {
			refuse(why)
			continue
		}
		s.Tags = append(splitTags(meta["tags"]), o.ForceTags...)
		if p.proto == "udp" {
			s.Tags = append(s.Tags, "udp")
		}
		if s.Tags == nil {
			s.Tags = []string{}
		}
		if t, bad := badTag(s.Tags); bad != "" {
			refuse(fmt.Sprintf("tag %q contains %s; tags are plain text (e.g. http, weight=3, path=/api)", t, bad))
			continue
		}
		s.Address = o.HostIP
		if s.Address == "" && p.hostIP != "" && p.hostIP != "0.0.0.0" && p.hostIP != "::" {
			s.Address = p.hostIP
		}
		s.Meta = map[string]string{"container": name, "container_id": shortID(c.ID)}
		// container_id is how a stopped container's services are found and
		// deregistered (main.go): an app must not point it elsewhere.
		if id, set := meta["container_id"]; set && appID != "" {
			refused = append(refused, Refusal{name, p.exposed + "/" + p.proto,
				fmt.Sprintf("SERVICE_CONTAINER_ID %q ignored for app %s; container_id is %s", id, appID, s.Meta["container_id"]), true})
		}
		for k, v := range meta {
			if reserved[k] || strings.HasPrefix(k, "check_") || !metaKey.MatchString(k) {
				continue
			}
			if k == "container_id" && appID != "" {
				continue
			}
			s.Meta[k] = v
		}
		s.Check = check(meta, s, p, o)
		out = append(out, s)
	}
	return out, refused
}

// dnsLabel is the form every service name must have: one DNS label, lowercase
// because HAProxy compares the lowercased Host header with it.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// dnsLabelProblem says why n is not a DNS label ("" when it is one).
func dnsLabelProblem(n string) string {
	switch {
	case n == "":
		return "is empty"
	case len(n) > 63:
		return fmt.Sprintf("is %d characters long", len(n))
	case dnsLabel.MatchString(n):
		return ""
	case strings.ToLower(n) != n && dnsLabel.MatchString(strings.ToLower(n)):
		return "has uppercase letters"
	default:
		return "is not a DNS label"
	}
}

// firstBadRune describes the first control character (or invalid UTF-8) in
// s, "" when there is none: a newline in a tag would be a new line in the
// rendered HAProxy config.
func firstBadRune(s string) string {
	if !utf8.ValidString(s) {
		return "invalid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("the control character %U", r)
		}
	}
	return ""
}

func badTag(tags []string) (string, string) {
	for _, t := range tags {
		if bad := firstBadRune(t); bad != "" {
			return t, bad
		}
	}
	return "", ""
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

var badName = regexp.MustCompile(`[^a-z0-9-]+`)

// sanitizeName makes an image-derived name a DNS label (Consul DNS and
// HAProxy's Host-header routing both need that). Explicit names are checked,
// not rewritten.
func sanitizeName(n string) string {
	return strings.Trim(badName.ReplaceAllString(strings.ToLower(n), "-"), "-")
}

// check builds the Consul check: SERVICE_CHECK_HTTP=/path, SERVICE_CHECK_TCP=true,
// SERVICE_CHECK_SCRIPT is refused (no scripts run from a registrator), and by
// default a TCP check on the published port so dead instances leave routing.
func check(meta map[string]string, s Service, p port, o Options) *Check {
	if v := meta["check_disabled"]; v == "true" || v == "1" {
		return nil
	}
	addr := s.Address
	if addr == "" {
		addr = "127.0.0.1"
	}
	hostport := net.JoinHostPort(addr, strconv.Itoa(p.hostPort))
	c := &Check{
		Interval:                       firstNonEmpty(meta["check_interval"], o.CheckInterval, "2s"),
		Timeout:                        firstNonEmpty(meta["check_timeout"], "1s"),
		Status:                         meta["check_initial_status"],
		DeregisterCriticalServiceAfter: firstNonEmpty(meta["check_deregister_after"], o.DeregisterAfter, "1m"),
	}
	switch {
	case meta["check_http"] != "":
		path := meta["check_http"]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		c.HTTP = fmt.Sprintf("http://%s%s", hostport, path)
	case p.proto == "udp":
		return nil // Consul has no UDP check
	default:
		c.TCP = hostport
	}
	return c
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
