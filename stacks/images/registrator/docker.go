// A minimal Docker Engine API client over the unix socket: list, inspect and
// the /events stream are all the registrator needs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type Docker struct {
	http    *http.Client
	stream  *http.Client
	version string // "/v1.41", negotiated with /version
}

func NewDocker(socket string) *Docker {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &Docker{
		http:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dial}},
		stream: &http.Client{Transport: &http.Transport{DialContext: dial}},
	}
}

// Negotiate picks the daemon's API version, capped at 1.41 (the version whose
// fields we read), so old and new daemons both answer.
func (d *Docker) Negotiate(ctx context.Context) error {
	var v struct {
		APIVersion    string `json:"ApiVersion"`
		MinAPIVersion string `json:"MinAPIVersion"`
	}
	if err := d.get(ctx, "/version", &v); err != nil {
		return err
	}
	use := "1.41"
	if v.APIVersion != "" && versionLess(v.APIVersion, use) {
		use = v.APIVersion
	}
	d.version = "/v" + use
	return nil
}

func versionLess(a, b string) bool {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "%d.%d", &a1, &a2)
	fmt.Sscanf(b, "%d.%d", &b1, &b2)
	return a1 < b1 || (a1 == b1 && a2 < b2)
}

func (d *Docker) get(ctx context.Context, path string, out interface{}) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker"+d.version+path, nil)
	if err != nil {
		return err
	}
	res, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("docker GET %s: %s: %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(res.Body).Decode(out)
}

var errNotFound = fmt.Errorf("not found")

// RunningIDs lists the ids of running containers.
func (d *Docker) RunningIDs(ctx context.Context) ([]string, error) {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := d.get(ctx, "/containers/json", &list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

func (d *Docker) Inspect(ctx context.Context, id string) (*Container, error) {
	var c Container
	if err := d.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (d *Docker) post(ctx context.Context, path string, body, out interface{}) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://docker"+d.version+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("docker POST %s: %s: %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.NewDecoder(res.Body).Decode(out)
	}
	return nil
}

// RunHealthcheck runs the container's own Docker healthcheck command once, as
// Docker would (CMD: argv, CMD-SHELL: /bin/sh -c), and returns its exit code.
func (d *Docker) RunHealthcheck(ctx context.Context, c *Container) (int, error) {
	cmd := healthcheckArgv(c)
	if cmd == nil {
		return -1, fmt.Errorf("no healthcheck command")
	}
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.post(ctx, "/containers/"+url.PathEscape(c.ID)+"/exec", map[string]interface{}{"Cmd": cmd, "AttachStdout": false, "AttachStderr": false}, &created); err != nil {
		return -1, err
	}
	if err := d.post(ctx, "/exec/"+url.PathEscape(created.ID)+"/start", map[string]interface{}{"Detach": true}, nil); err != nil {
		return -1, err
	}
	for {
		var st struct {
			Running  bool `json:"Running"`
			ExitCode int  `json:"ExitCode"`
		}
		if err := d.get(ctx, "/exec/"+url.PathEscape(created.ID)+"/json", &st); err != nil {
			return -1, err
		}
		if !st.Running {
			return st.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(5 * time.Millisecond): // its exit is on a new instance's path to routing
		}
	}
}

// healthcheckArgv is the command of c's Docker healthcheck (nil when none).
func healthcheckArgv(c *Container) []string {
	hc := c.Config.Healthcheck
	if hc == nil || len(hc.Test) < 2 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", hc.Test[1]}
	}
	return nil
}

// Event is one container event from /events.
type Event struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

// Events streams container events until ctx ends or the stream breaks.
func (d *Docker) Events(ctx context.Context, fn func(Event)) error {
	q := url.Values{"filters": {`{"type":["container"]}`}}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker"+d.version+"/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	res, err := d.stream.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("docker events: %s", res.Status)
	}
	dec := json.NewDecoder(bufio.NewReader(res.Body))
	for {
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		fn(ev)
	}
}
