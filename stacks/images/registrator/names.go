// Names belong to apps: a service name is owned by the Marathon app id that
// first deployed it (Consul K/V paasbox/names/NAME = "/python1", written by
// deploy with ?cas=0), and the stack's own names belong to the stack. This
// file holds the pure decision (NameRefusal) and the registrator's cache of
// the owners, kept current by one blocking query so that a registration costs
// no Consul round trip.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AppIDLabel is the container label swarm tasks of an app carry
// (src/scheduler/swarm-service.ts APP_ID_LABEL): the Marathon app id.
const AppIDLabel = "paasbox.marathon.id"

// NamesPrefix is the K/V prefix of the name owners: NamesPrefix+NAME = app id.
const NamesPrefix = "paasbox/names/"

// StackNames are the services of the stack itself (stacks/paasbox.yaml and
// the names its images are known by): no app may register one.
// names_test.go checks the list against stacks/paasbox.yaml.
var StackNames = map[string]bool{
	"consul": true, "zookeeper": true, "haproxy": true, "registrator": true, "dns": true, "dnsmasq": true,
	"sshd": true, "openvpn": true, "marathon": true, "mesos-master": true, "mesos-slave": true,
	"apps-api": true, "registry": true, "acme": true,
}

// Owners answers who owns a service name: the owning app id and true when
// K/V records one; an error when the owners are not known (K/V unreadable).
type Owners func(name string) (owner string, owned bool, err error)

// NameRefusal decides whether a container may register service name, ""
// when it may, else why not. appID is the container's paasbox.marathon.id
// label ("" when it has none: the stack's and the operator's containers).
// An app registers a name it owns or one nobody owns, never another app's or
// the stack's; deploy's app policy refuses the name sources it cannot judge
// (labels, docker parameters) and claims NAME-PORT for a multi-port app. A
// container without the label may register any name no app owns.
// Pure.
func NameRefusal(name, appID string, owner string, owned bool, ownersErr error) string {
	if appID != "" && StackNames[name] {
		return fmt.Sprintf("service name %q is the stack's own; app %s cannot use it", name, appID)
	}
	if ownersErr != nil {
		if appID == "" {
			return "" // the stack's and the operator's containers register as before
		}
		return fmt.Sprintf("the owner of service name %q is unknown (%v); app %s is refused until it can be read", name, ownersErr, appID)
	}
	if appID == "" {
		if !owned {
			return ""
		}
		return fmt.Sprintf("service name %q belongs to app %s; this container has no %s label", name, owner, AppIDLabel)
	}
	// Unclaimed: deploy's app policy judged every name source of an app (env
	// only, DNS labels, NAME-PORT claimed); a name nobody owns registers.
	if !owned || owner == appID {
		return ""
	}
	return fmt.Sprintf("service name %q belongs to app %s, not to app %s", name, owner, appID)
}

// NameCache holds paasbox/names/* as last read. Watch keeps it current with a
// blocking query; Owner reads it (no round trip once loaded).
type NameCache struct {
	consul *Consul
	mu     sync.RWMutex
	owners map[string]string
	loaded bool
	err    error
}

func NewNameCache(c *Consul) *NameCache { return &NameCache{consul: c, owners: map[string]string{}} }

type kvPair struct {
	Key   string `json:"Key"`
	Value string `json:"Value"` // base64
}

// fetch reads every owner; index > 0 blocks until they change (or wait passes).
func (n *NameCache) fetch(ctx context.Context, index uint64, wait time.Duration) (map[string]string, uint64, error) {
	q := url.Values{"recurse": {"true"}}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", wait.String())
	}
	var pairs []kvPair
	idx, status, err := n.consul.doIndex(ctx, "/v1/kv/"+NamesPrefix+"?"+q.Encode(), &pairs)
	if status == 404 { // no name owned yet
		return map[string]string{}, idx, nil
	}
	if err != nil {
		return nil, 0, err
	}
	out := map[string]string{}
	for _, p := range pairs {
		v, derr := base64.StdEncoding.DecodeString(p.Value)
		name := strings.TrimPrefix(p.Key, NamesPrefix)
		if derr == nil && name != "" && !strings.Contains(name, "/") {
			out[name] = strings.TrimSpace(string(v))
		}
	}
	return out, idx, nil
}

func (n *NameCache) set(owners map[string]string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		if !n.loaded {
			n.err = err
		}
		return // a failed refresh keeps the last owners read
	}
	n.owners, n.loaded, n.err = owners, true, nil
}

// Load reads the owners once (before the first sync).
func (n *NameCache) Load(ctx context.Context) error {
	owners, _, err := n.fetch(ctx, 0, 0)
	n.set(owners, err)
	return err
}

// Watch follows paasbox/names/ with a blocking query until ctx ends; a
// change reaches the cache within milliseconds of the K/V write.
func (n *NameCache) Watch(ctx context.Context) {
	var index uint64
	last := ""
	for ctx.Err() == nil {
		owners, idx, err := n.fetch(ctx, index, 5*time.Minute)
		if ctx.Err() != nil {
			return
		}
		n.set(owners, err)
		if err != nil {
			if err.Error() != last {
				log.Printf("names: read %s: %v", NamesPrefix, err)
				last = err.Error()
			}
			index = 0
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
			continue
		}
		last = ""
		if idx == 0 { // no index to block on: do not spin
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		} else if idx < index { // Consul's index went back (a restore): start over
			idx = 0
		}
		index = idx
	}
}

// Owner answers from the cache; before the first successful read, from Consul.
func (n *NameCache) Owner(name string) (string, bool, error) {
	n.mu.RLock()
	loaded, err := n.loaded, n.err
	owner, owned := n.owners[name]
	n.mu.RUnlock()
	if loaded {
		return owner, owned, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if lerr := n.Load(ctx); lerr != nil {
		if err == nil {
			err = lerr
		}
		return "", false, err
	}
	return n.Owner(name)
}
