// Tests of main.go's argv: the renewer's line is accepted, anything else is
// refused with the flag named (src/acme/lego.ts builds the line).
package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	good := []string{"--accept-tos", "--email", "ops@example.test", "--server", "https://pebble:14000/dir",
		"--path", "/var/lib/paasbox-acme/lego", "--http", "--http.webroot", "/var/lib/paasbox-acme/webroot",
		"--domains", "app.example.test", "run"}
	o, err := ParseArgs(good, io.Discard)
	if err != nil {
		t.Fatalf("the renewer's argv: %v", err)
	}
	if o.Email != "ops@example.test" || o.Server != "https://pebble:14000/dir" || o.Webroot == "" ||
		len(o.Domains) != 1 || o.Domains[0] != "app.example.test" {
		t.Errorf("parsed %+v", o)
	}
	if dir := AccountDir(o); dir != "/var/lib/paasbox-acme/lego/accounts/pebble_14000/ops@example.test" {
		t.Errorf("account dir %s", dir)
	}
	with := func(from, to string) []string {
		out := append([]string{}, good...)
		for i, a := range out {
			if a == from {
				out[i] = to
			}
		}
		return out
	}
	bad := []struct {
		what string
		args []string
		want string
	}{
		{"no run", good[:len(good)-1], "want the command run"},
		{"another command", with("run", "renew"), "want the command run"},
		{"no --accept-tos", good[1:], "--accept-tos"},
		{"plain http directory", with("https://pebble:14000/dir", "http://pebble/dir"), "not an https URL"},
		{"wildcard", with("app.example.test", "*.example.test"), "wildcards need DNS-01"},
		{"newline in a domain", with("app.example.test", "app.example.test\nx"), "not a DNS name"},
		{"unknown flag", append([]string{"--dns", "x"}, good...), "flag provided but not defined"},
	}
	for _, c := range bad {
		_, err := ParseArgs(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error with %q, got %v", c.what, c.want, err)
		}
	}
}
