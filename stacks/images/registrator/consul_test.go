package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

func TestTokenFromEnvThenFileThenNone(t *testing.T) {
	f := filepath.Join(t.TempDir(), "consul-token")
	if err := os.WriteFile(f, []byte("11111111-2222-3333-4444-555555555555\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", f)
	if got := envToken(); got != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("token from file (trimmed): got %q", got)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", "from-env")
	if got := envToken(); got != "from-env" {
		t.Errorf("CONSUL_HTTP_TOKEN wins: got %q", got)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", filepath.Join(t.TempDir(), "absent"))
	if got := envToken(); got != "" {
		t.Errorf("a missing file means no token (Consul without ACLs): got %q", got)
	}
}

// A Consul whose ACL step has not run yet: a leader, but 403 for our token
// until `accepted` is set; Ready must wait for the token, and send it.
func TestReadyWaitsUntilTheTokenIsAccepted(t *testing.T) {
	var accepted atomic.Bool
	var sent atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status/leader":
			w.Write([]byte(`"10.0.0.5:8300"`))
		case "/v1/agent/services":
			sent.Store(r.Header.Get("X-Consul-Token"))
			if !accepted.Load() {
				http.Error(w, "ACL not found", http.StatusForbidden)
				return
			}
			w.Write([]byte(`{}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := filepath.Join(t.TempDir(), "consul-token")
	if err := os.WriteFile(f, []byte("aaaaaaaa-2222-3333-4444-555555555555"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", f)
	c := NewConsul(srv.URL)
	if err := c.Ready(context.Background()); err == nil {
		t.Fatal("Ready with a token Consul does not know yet: want an error (403)")
	}
	if got := sent.Load(); got != "aaaaaaaa-2222-3333-4444-555555555555" {
		t.Errorf("X-Consul-Token sent: %v", got)
	}
	accepted.Store(true)
	if err := c.Ready(context.Background()); err != nil {
		t.Errorf("Ready once the token exists: %v", err)
	}
}

// A registration made before ACLs were on carries no mark: once the
// registrator has a token it is registered again (with the token).
func TestRegistrationWithoutTokenIsRenewedOnceATokenIsThere(t *testing.T) {
	s := Service{Name: "web", Port: 80, Address: "10.0.0.5", Meta: map[string]string{"container_id": "abc"}}
	before := AgentService{Service: "web", Port: 80, Address: "10.0.0.5", Meta: map[string]string{"container_id": "abc"}}
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	if !same(before, s) {
		t.Fatal("without ACLs an unmarked registration is the same")
	}
	t.Setenv("CONSUL_HTTP_TOKEN", "aaaaaaaa-2222-3333-4444-555555555555")
	if same(before, s) {
		t.Error("with a token, a registration made without one must be renewed")
	}
	marked := before
	marked.Meta = map[string]string{"container_id": "abc", aclMetaKey: "token"}
	if !same(marked, s) {
		t.Error("a registration made with the token is the same")
	}
}
