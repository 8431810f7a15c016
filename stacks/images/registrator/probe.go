// The registrator's own first look at a new instance's check, so it can be
// registered as passing the moment it answers instead of staying critical
// until Consul's first check run (up to one check interval later). It probes
// exactly what Consul's check will probe, by Consul's rules (HTTP: a 2xx
// answer; TCP: a connection), and only decides the initial status: Consul's
// check keeps running and takes over from the first interval on.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// probeOnce runs check c once: nil when Consul would call it passing.
func probeOnce(ctx context.Context, c *Check) error {
	timeout, err := time.ParseDuration(firstNonEmpty(c.Timeout, "1s"))
	if err != nil || timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case c.HTTP != "":
		req, err := http.NewRequestWithContext(ctx, "GET", c.HTTP, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "Consul Health Check")
		res, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		res.Body.Close()
		if res.StatusCode < 200 || res.StatusCode > 299 {
			return fmt.Errorf("HTTP %d", res.StatusCode)
		}
		return nil
	case c.TCP != "":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.TCP)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("no HTTP or TCP check to probe")
}

// No keep-alive: each probe is a fresh connection, as Consul's are.
var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// waitPassing probes every check every `every` until all pass at once (true)
// or `limit` passes or ctx ends (false: Consul's own check decides, from critical).
func waitPassing(ctx context.Context, checks []*Check, every, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ok := true
		for _, c := range checks {
			if probeOnce(ctx, c) != nil {
				ok = false
				break
			}
		}
		if ok && ctx.Err() == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// gatedChecks are the checks of svcs whose initial status the registrator
// decides (the user set no SERVICE_CHECK_INITIAL_STATUS): nil when none.
func gatedChecks(svcs []Service) []*Check {
	var out []*Check
	for _, s := range svcs {
		if s.Check != nil && s.Check.Status == "" && (s.Check.HTTP != "" || s.Check.TCP != "") {
			out = append(out, s.Check)
		}
	}
	return out
}

// asPassing returns svcs with every gated check's initial status passing.
func asPassing(svcs []Service) []Service {
	out := make([]Service, len(svcs))
	for i, s := range svcs {
		if s.Check != nil && s.Check.Status == "" {
			c := *s.Check
			c.Status = "passing"
			s.Check = &c
		}
		out[i] = s
	}
	return out
}
