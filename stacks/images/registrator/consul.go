// The few Consul agent endpoints the registrator uses.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

type Consul struct {
	base string
	http *http.Client
}

// NewConsul accepts CONSUL_HTTP_ADDR as "host:port" or "http(s)://host:port".
func NewConsul(addr string) *Consul {
	if addr == "" {
		addr = "127.0.0.1:8500"
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Consul{base: strings.TrimRight(addr, "/"), http: &http.Client{Timeout: 10 * time.Second}}
}

func (c *Consul) do(ctx context.Context, method, path string, body interface{}, out interface{}) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if tok := envToken(); tok != "" {
		req.Header.Set("X-Consul-Token", tok)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("consul %s %s: %s: %s", method, path, res.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.NewDecoder(res.Body).Decode(out)
	}
	return nil
}

// doIndex GETs path into out and returns Consul's X-Consul-Index (blocking
// queries) and the HTTP status; a 404 is returned as status, not decoded.
func (c *Consul) doIndex(ctx context.Context, path string, out interface{}) (uint64, int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return 0, 0, err
	}
	if tok := envToken(); tok != "" {
		req.Header.Set("X-Consul-Token", tok)
	}
	cl := c.http
	if strings.Contains(path, "wait=") { // a blocking query outlives the client's 10 s timeout
		cl = &http.Client{Timeout: 6 * time.Minute}
	}
	res, err := cl.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	idx, _ := strconv.ParseUint(res.Header.Get("X-Consul-Index"), 10, 64)
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return idx, res.StatusCode, fmt.Errorf("consul GET %s: %s: %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	return idx, res.StatusCode, json.NewDecoder(res.Body).Decode(out)
}

// Leader returns the cluster leader address; an error means the agent is not usable yet.
func (c *Consul) Leader(ctx context.Context) (string, error) {
	var l string
	err := c.do(ctx, "GET", "/v1/status/leader", nil, &l)
	if err == nil && l == "" {
		err = fmt.Errorf("consul has no leader yet")
	}
	return l, err
}

// Ready is nil once the agent has a leader and accepts our token (under ACLs
// install creates it after Consul is up: until then Consul answers 403).
func (c *Consul) Ready(ctx context.Context) error {
	if _, err := c.Leader(ctx); err != nil {
		return err
	}
	_, err := c.Services(ctx)
	return err
}

func (c *Consul) Register(ctx context.Context, s Service) error {
	return c.do(ctx, "PUT", "/v1/agent/service/register", s, nil)
}

func (c *Consul) Deregister(ctx context.Context, id string) error {
	return c.do(ctx, "PUT", "/v1/agent/service/deregister/"+url.PathEscape(id), nil, nil)
}

// AgentService is what /v1/agent/services answers per service.
type AgentService struct {
	ID      string            `json:"ID"`
	Service string            `json:"Service"`
	Tags    []string          `json:"Tags"`
	Address string            `json:"Address"`
	Port    int               `json:"Port"`
	Meta    map[string]string `json:"Meta"`
}

func (c *Consul) Services(ctx context.Context) (map[string]AgentService, error) {
	out := map[string]AgentService{}
	err := c.do(ctx, "GET", "/v1/agent/services", nil, &out)
	return out, err
}

// envToken is the ACL token sent as X-Consul-Token: CONSUL_HTTP_TOKEN, else
// the content of the file CONSUL_HTTP_TOKEN_FILE names (read on every request,
// so a token written later is picked up), else none (a Consul without ACLs).
func envToken() string {
	if tok := os.Getenv("CONSUL_HTTP_TOKEN"); tok != "" {
		return tok
	}
	if f := os.Getenv("CONSUL_HTTP_TOKEN_FILE"); f != "" {
		if b, err := os.ReadFile(f); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}
