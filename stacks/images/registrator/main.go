// paasbox registrator: keeps the local Consul agent's service list equal to
// the containers running on this Docker host that publish ports. It syncs
// everything on start, follows /events, and resyncs periodically so
// registrations left behind by a crash (of a container or of itself) go away.
// An instance enters routing as passing the moment it is ready, and never
// before: a container with a Docker healthcheck when Docker says healthy
// (and it leaves on unhealthy), any other when the registrator's own probe of
// its Consul check first passes (probe.go).
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type Registrator struct {
	docker *Docker
	consul *Consul
	opts   Options
	// refusals already logged (container id + reason), so a resync every 30s
	// does not repeat them; forgotten when the container stops.
	logged map[string]bool
	// containers whose checks are being probed before their first
	// registration, with the probe's cancel (stop, die, a newer start).
	probing map[string]*probe
	probed  chan probeResult
	// probe cadence and how long before Consul's own check takes over
	probeEvery, probeLimit time.Duration
	// runs a container's Docker healthcheck once (Docker.RunHealthcheck)
	runHealthcheck func(context.Context, *Container) (int, error)
}

type probe struct {
	cancel context.CancelFunc
}

type probeResult struct {
	id string
	// the probe it came from: a result counts only while that probe is the container's current one
	probe      *probe
	svcs       []Service
	passed     bool
	orCritical bool
}

func main() {
	hostname, _ := os.Hostname()
	resync := flag.Int("resync", envInt("REGISTRATOR_RESYNC", 30), "seconds between full resyncs (0 = never)")
	tags := flag.String("tags", os.Getenv("REGISTRATOR_TAGS"), "comma-separated tags added to every service")
	hostIP := flag.String("ip", os.Getenv("REGISTRATOR_HOST_IP"), "address registered for published ports")
	interval := flag.String("check-interval", envOr("REGISTRATOR_CHECK_INTERVAL", "2s"), "default check interval")
	deregAfter := flag.String("deregister-after", envOr("REGISTRATOR_DEREGISTER_AFTER", "1m"), "Consul deregister_critical_service_after for default checks")
	socket := flag.String("docker-socket", envOr("DOCKER_SOCKET", "/var/run/docker.sock"), "Docker API unix socket")
	flag.StringVar(&hostname, "hostname", envOr("REGISTRATOR_HOSTNAME", hostname), "service ID prefix identifying this host")
	flag.Parse()

	r := newRegistrator(NewDocker(*socket), NewConsul(os.Getenv("CONSUL_HTTP_ADDR")),
		Options{Hostname: hostname, HostIP: *hostIP, ForceTags: splitTags(*tags),
			CheckInterval: *interval, DeregisterAfter: *deregAfter})
	if t, bad := badTag(r.opts.ForceTags); bad != "" {
		log.Fatalf("registrator: -tags/REGISTRATOR_TAGS: tag %q contains %s", t, bad)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if r.opts.HostIP == "" {
		log.Printf("warning: REGISTRATOR_HOST_IP is not set; services are registered without an address (Consul uses the agent's)")
	}
	if err := r.Run(ctx, time.Duration(*resync)*time.Second); err != nil && ctx.Err() == nil {
		log.Fatalf("registrator: %v", err)
	}
	log.Printf("stopped")
}

func newRegistrator(d *Docker, c *Consul, o Options) *Registrator {
	return &Registrator{
		docker: d, consul: c, opts: o,
		logged:     map[string]bool{},
		probing:    map[string]*probe{},
		probed:     make(chan probeResult, 64),
		probeEvery: envDuration("REGISTRATOR_PROBE_EVERY", 20*time.Millisecond),
		probeLimit: envDuration("REGISTRATOR_PROBE_LIMIT", 30*time.Second),
		runHealthcheck: func(ctx context.Context, c *Container) (int, error) {
			return d.RunHealthcheck(ctx, c)
		},
	}
}

// waitFor retries fn every 2s until it succeeds or ctx ends, logging once per failure kind.
func waitFor(ctx context.Context, what string, fn func() error) error {
	last := ""
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if err.Error() != last {
			log.Printf("waiting for %s: %v", what, err)
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (r *Registrator) Run(ctx context.Context, resync time.Duration) error {
	if err := waitFor(ctx, "docker", func() error { return r.docker.Negotiate(ctx) }); err != nil {
		return err
	}
	if err := waitFor(ctx, "consul", func() error { return r.consul.Ready(ctx) }); err != nil {
		return err
	}
	log.Printf("docker API %s, consul %s, host %s ip %q, resync %s", r.docker.version, r.consul.base, r.opts.Hostname, r.opts.HostIP, resync)
	// Who owns which service name: read once, then followed by a blocking query.
	names := NewNameCache(r.consul)
	if err := names.Load(ctx); err != nil {
		log.Printf("names: read %s: %v (apps are refused until it can be read)", NamesPrefix, err)
	}
	r.opts.Owners = names.Owner
	go names.Watch(ctx)

	events := make(chan Event, 256)
	// Subscribe before the first sync so no start/die between the two is lost;
	// after a broken stream, a resync catches up with what was missed.
	go func() {
		for ctx.Err() == nil {
			err := r.docker.Events(ctx, func(e Event) { events <- e })
			if ctx.Err() != nil {
				return
			}
			log.Printf("docker event stream ended (%v); reconnecting", err)
			time.Sleep(time.Second)
			events <- Event{Type: "paasbox", Action: "resync"}
		}
	}()
	r.Sync(ctx)
	var tick <-chan time.Time
	if resync > 0 {
		t := time.NewTicker(resync)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			r.Sync(ctx)
		case e := <-events:
			r.handle(ctx, e)
		case p := <-r.probed:
			r.finishProbe(ctx, p)
		}
	}
}

func (r *Registrator) handle(ctx context.Context, e Event) {
	switch e.Action {
	case "resync":
		r.Sync(ctx)
	case "start", "unpause", "health_status: healthy":
		c, err := r.docker.Inspect(ctx, e.Actor.ID)
		if err != nil {
			log.Printf("inspect %s: %v", shortID(e.Actor.ID), err)
			return
		}
		r.admit(ctx, c, r.services(c))
	case "health_status: unhealthy":
		// Docker's verdict outranks a TCP check that still connects.
		r.deregisterContainer(ctx, e.Actor.ID)
	case "kill":
		// docker stop sends TERM first: leave routing now, before the app goes,
		// so in-flight traffic drains to the other instances.
		switch e.Actor.Attributes["signal"] {
		case "15", "9", "2", "3":
			r.deregisterContainer(ctx, e.Actor.ID)
		}
	case "die", "stop", "destroy", "pause", "oom":
		r.deregisterContainer(ctx, e.Actor.ID)
		r.forget(e.Actor.ID)
	}
}

// admit registers svcs of container c as soon as they may take traffic:
//   - a Docker healthcheck: only once Docker says healthy, then as passing
//     (while starting nothing is registered; unhealthy is never registered);
//   - otherwise checks whose initial status is ours to decide: probed in the
//     background, registered as passing when they pass (finishProbe);
//   - no check to wait for: registered at once.
func (r *Registrator) admit(ctx context.Context, c *Container, svcs []Service) {
	if len(svcs) == 0 {
		return
	}
	checks := gatedChecks(svcs)
	if c.HasDockerHealthcheck() {
		switch c.DockerHealth() {
		case "healthy":
			r.stopProbe(c.ID)
			for _, s := range asPassing(svcs) {
				r.register(ctx, s)
			}
			return
		case "unhealthy":
			r.deregisterContainer(ctx, c.ID)
			return
		}
		// Starting: Docker runs the first check only after its interval
		// (5 s and more). Run the same command as soon as the app answers its
		// Consul check; failing that, Docker's healthy event registers it.
		if healthcheckArgv(c) == nil {
			return
		}
		r.startProbe(ctx, c, svcs, false, func(pctx context.Context) bool {
			return waitPassing(pctx, checks, r.probeEvery, r.probeLimit) && r.waitHealthcheck(pctx, c)
		})
		return
	}
	if len(checks) == 0 {
		for _, s := range svcs {
			r.register(ctx, s)
		}
		return
	}
	r.startProbe(ctx, c, svcs, true, func(pctx context.Context) bool {
		return waitPassing(pctx, checks, r.probeEvery, r.probeLimit)
	})
}

// startProbe runs ready in the background (one probe per container); its
// result comes back to the event loop through r.probed. orCritical: when it
// never passes, register anyway with Consul's initial critical and let
// Consul's check decide (never for a Docker healthcheck: Docker decides).
func (r *Registrator) startProbe(ctx context.Context, c *Container, svcs []Service, orCritical bool, ready func(context.Context) bool) {
	if _, busy := r.probing[c.ID]; busy {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel}
	r.probing[c.ID] = p
	go func() {
		passed := ready(pctx)
		select {
		case r.probed <- probeResult{id: c.ID, probe: p, svcs: svcs, passed: passed, orCritical: orCritical}:
		case <-ctx.Done():
		}
	}()
}

// waitHealthcheck runs c's Docker healthcheck command until it exits 0 (true)
// or the probe limit passes; a run is bounded by the healthcheck's timeout.
func (r *Registrator) waitHealthcheck(ctx context.Context, c *Container) bool {
	ctx, cancel := context.WithTimeout(ctx, r.probeLimit)
	defer cancel()
	timeout := 30 * time.Second
	if hc := c.Config.Healthcheck; hc != nil && hc.Timeout > 0 {
		timeout = time.Duration(hc.Timeout)
	}
	for {
		rctx, rcancel := context.WithTimeout(ctx, timeout)
		code, err := r.runHealthcheck(rctx, c)
		rcancel()
		if err == nil && code == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(4 * r.probeEvery): // each run is a process in the container: not too often
		}
	}
}

// finishProbe registers a probed container's services: as passing when its
// checks passed, else as they are (critical until Consul's check passes).
func (r *Registrator) finishProbe(ctx context.Context, p probeResult) {
	if r.probing[p.id] != p.probe {
		return // stopped (or started again) meanwhile
	}
	r.stopProbe(p.id)
	svcs := p.svcs
	if p.passed {
		svcs = asPassing(svcs)
	} else if !p.orCritical {
		log.Printf("container %s: its healthcheck did not pass within %s; Docker's healthy event will register it", shortID(p.id), r.probeLimit)
		return
	} else {
		log.Printf("container %s: checks not passing after %s; registered critical, Consul's check decides", shortID(p.id), r.probeLimit)
	}
	for _, s := range svcs {
		r.register(ctx, s)
	}
}

func (r *Registrator) stopProbe(id string) {
	if p, ok := r.probing[id]; ok {
		p.cancel()
		delete(r.probing, id)
	}
}

// services derives c's registrations and logs each refused port once.
func (r *Registrator) services(c *Container) []Service {
	out, refused := Services(c, r.opts)
	for _, f := range refused {
		key := c.ID + "\x00" + f.Port + "\x00" + f.Reason
		if !r.logged[key] {
			r.logged[key] = true
			if f.Note {
				log.Printf("note: %s", f)
			} else {
				log.Printf("refused: %s", f)
			}
		}
	}
	return out
}

func (r *Registrator) forget(id string) {
	for k := range r.logged {
		if strings.HasPrefix(k, id+"\x00") {
			delete(r.logged, k)
		}
	}
}

func (r *Registrator) register(ctx context.Context, s Service) {
	if s.Meta == nil {
		s.Meta = map[string]string{}
	}
	s.Meta["registrator"] = r.opts.Hostname
	if m := aclMark(); m != "" {
		s.Meta[aclMetaKey] = m
	}
	if err := r.consul.Register(ctx, s); err != nil {
		log.Printf("register %s: %v", s.ID, err)
		return
	}
	log.Printf("registered %s as %s %v at %s:%d", s.ID, s.Name, s.Tags, s.Address, s.Port)
}

func (r *Registrator) deregister(ctx context.Context, id, why string) {
	if err := r.consul.Deregister(ctx, id); err != nil {
		log.Printf("deregister %s: %v", id, err)
		return
	}
	log.Printf("deregistered %s (%s)", id, why)
}

// ours tells whether an agent service was registered by this registrator.
func (r *Registrator) ours(s AgentService) bool {
	return s.Meta["registrator"] == r.opts.Hostname || strings.HasPrefix(s.ID, r.opts.Hostname+":")
}

// deregisterContainer takes container id out of routing: its pending probe
// (if any) is stopped, then each of its registrations is removed.
func (r *Registrator) deregisterContainer(ctx context.Context, id string) {
	r.stopProbe(id)
	have, err := r.consul.Services(ctx)
	if err != nil {
		log.Printf("list consul services: %v", err)
		return
	}
	for sid, s := range have {
		if r.ours(s) && s.Meta["container_id"] == shortID(id) {
			r.deregister(ctx, sid, "container "+shortID(id)+" stopped")
		}
	}
}

// Sync makes the agent's services equal to the running containers': it
// registers what is missing or changed (leaving unchanged ones alone so their
// check status is kept) and removes our registrations no container backs.
func (r *Registrator) Sync(ctx context.Context) {
	ids, err := r.docker.RunningIDs(ctx)
	if err != nil {
		log.Printf("sync: list containers: %v", err)
		return
	}
	want := map[string]Service{}
	owner := map[string]*Container{}
	running := map[string]bool{}
	unhealthy := map[string]bool{}
	for _, id := range ids {
		c, err := r.docker.Inspect(ctx, id)
		if err != nil {
			continue // gone between list and inspect
		}
		running[c.ID] = true
		if c.HasDockerHealthcheck() && c.DockerHealth() == "unhealthy" {
			unhealthy[shortID(c.ID)] = true
			continue // not routed, and removed if it was
		}
		// "starting" stays in want: registered already when its own
		// healthcheck passed early (kept), else admit runs that check.
		for _, s := range r.services(c) {
			want[s.ID] = s
			owner[s.ID] = c
		}
	}
	for id := range r.probing {
		if !running[id] {
			r.stopProbe(id)
		}
	}
	for k := range r.logged {
		if id, _, _ := strings.Cut(k, "\x00"); !running[id] {
			delete(r.logged, k)
		}
	}
	have, err := r.consul.Services(ctx)
	if err != nil {
		log.Printf("sync: list consul services: %v", err)
		return
	}
	// What is missing or changed goes through admit, container by container,
	// so it is gated exactly as a new start is.
	todo := map[string][]Service{}
	for id, s := range want {
		if h, ok := have[id]; ok && same(h, s) {
			continue
		}
		cid := owner[id].ID
		todo[cid] = append(todo[cid], s)
	}
	for _, svcs := range todo {
		r.admit(ctx, owner[svcs[0].ID], svcs)
	}
	for id, s := range have {
		if _, ok := want[id]; !ok && r.ours(s) {
			why := "stale: no running container"
			if unhealthy[s.Meta["container_id"]] {
				why = "container " + s.Meta["container_id"] + " unhealthy"
			}
			r.deregister(ctx, id, why)
		}
	}
}

func same(h AgentService, s Service) bool {
	ht := append([]string{}, h.Tags...)
	st := append([]string{}, s.Tags...)
	sort.Strings(ht)
	sort.Strings(st)
	return h.Service == s.Name && h.Port == s.Port && h.Address == s.Address &&
		(len(ht) == 0 && len(st) == 0 || reflect.DeepEqual(ht, st)) &&
		h.Meta["container_id"] == s.Meta["container_id"] &&
		h.Meta[aclMetaKey] == aclMark()
}

// aclMetaKey marks a registration made with a token. Consul keeps the token a
// service was registered with; one registered before ACLs were on has none,
// so its check results could no longer reach the catalog: without the mark it
// is not "same", and the next sync registers it again, with the token.
const aclMetaKey = "registrator_acl"

func aclMark() string {
	if envToken() != "" {
		return "token"
	}
	return ""
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}
