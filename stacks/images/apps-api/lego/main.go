// The `lego` of the apps-api image, which the ACME renewer (src/acme/lego.ts)
// runs as
//
//	lego --accept-tos --email E --server DIR --path P --http --http.webroot W --domains D run
//
// the argv of lego's own command (v4). The ACME client is lego's library
// (github.com/go-acme/lego/v5, MIT): its account registration, orders,
// HTTP-01 challenges through a webroot and certificate download. lego's own
// command cannot be built here: it links every DNS provider, and the Go
// module proxy serves not all of their modules. So this file is only that
// command's `run` for HTTP-01: the account key kept under P/accounts/, the
// certificate bundle and its key written as lego writes them
// (P/certificates/D.crt, D.key, D.issuer.crt). LEGO_CA_CERTIFICATES (a CA
// file the directory's HTTPS chains to) is read by the library itself.
package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/providers/http/webroot"
	"github.com/go-acme/lego/v5/registration"
)

// Options are the flags of `run`, as lego's command names them.
type Options struct {
	AcceptTOS bool
	Email     string
	Server    string
	Path      string
	HTTP      bool
	Webroot   string
	Domains   []string
}

type domains []string

func (d *domains) String() string     { return strings.Join(*d, ",") }
func (d *domains) Set(v string) error { *d = append(*d, v); return nil }

// A domain lego may be asked for: lowercase DNS labels (the renewer checked it).
var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ParseArgs reads lego's argv; an error names the flag and what it wants.
func ParseArgs(args []string, stderr io.Writer) (Options, error) {
	var o Options
	var ds domains
	fs := flag.NewFlagSet("lego", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.AcceptTOS, "accept-tos", false, "agree to the directory's terms of service")
	fs.StringVar(&o.Email, "email", "", "the account's contact address")
	fs.StringVar(&o.Server, "server", "", "the ACME directory URL")
	fs.StringVar(&o.Path, "path", "", "where the account and the certificates are kept")
	fs.BoolVar(&o.HTTP, "http", false, "solve HTTP-01 challenges")
	fs.StringVar(&o.Webroot, "http.webroot", "", "the directory served at /.well-known/acme-challenge/")
	fs.Var(&ds, "domains", "a domain of the certificate (repeatable)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Domains = ds
	rest := fs.Args()
	switch {
	case len(rest) != 1 || rest[0] != "run":
		return o, fmt.Errorf("want the command run after the flags, got %q", strings.Join(rest, " "))
	case !o.AcceptTOS:
		return o, errors.New("--accept-tos is required")
	case !o.HTTP || o.Webroot == "":
		return o, errors.New("only --http with --http.webroot is supported")
	case o.Path == "":
		return o, errors.New("--path is required")
	case len(o.Domains) == 0:
		return o, errors.New("--domains is required")
	}
	if u, err := url.Parse(o.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		return o, fmt.Errorf("--server %q is not an https URL", o.Server)
	}
	for _, d := range o.Domains {
		if !domainRE.MatchString(d) || len(d) > 253 {
			return o, fmt.Errorf("--domains %q is not a DNS name (wildcards need DNS-01)", d)
		}
	}
	return o, nil
}

type user struct {
	email string
	reg   *acme.ExtendedAccount
	key   crypto.Signer
}

func (u *user) GetEmail() string                       { return u.email }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

// AccountDir is P/accounts/HOST_PORT/EMAIL (or "default"), as lego lays it out.
func AccountDir(o Options) string {
	u, _ := url.Parse(o.Server)
	who := o.Email
	if who == "" {
		who = "default"
	}
	return filepath.Join(o.Path, "accounts", strings.ReplaceAll(u.Host, ":", "_"), who)
}

// accountKey reads the account's key, or makes one (EC P-256, 0600) on the first run.
func accountKey(dir string) (crypto.Signer, error) {
	file := filepath.Join(dir, "account.key")
	if b, err := os.ReadFile(file); err == nil {
		return certcrypto.ParsePEMPrivateKey(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(file, certcrypto.PEMEncode(key), 0o600)
}

func run(ctx context.Context, o Options) error {
	key, err := accountKey(AccountDir(o))
	if err != nil {
		return fmt.Errorf("account key: %w", err)
	}
	u := &user{email: o.Email, key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = o.Server
	client, err := lego.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("ACME directory %s: %w", o.Server, err)
	}
	provider, err := webroot.NewHTTPProvider(o.Webroot)
	if err != nil {
		return fmt.Errorf("webroot %s: %w", o.Webroot, err)
	}
	if err := client.Challenge.SetHTTP01Provider(provider); err != nil {
		return err
	}
	// A known key answers with its account: a directory that forgot it (a
	// test server restarted) gets it again.
	if u.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains: o.Domains,
		Bundle:  true,
		KeyType: certcrypto.EC256,
	})
	if err != nil {
		return fmt.Errorf("obtain certificate: %w", err)
	}
	dir := filepath.Join(o.Path, "certificates")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	name := o.Domains[0]
	for _, f := range []struct {
		ext  string
		data []byte
	}{{".key", res.PrivateKey}, {".issuer.crt", res.IssuerCertificate}, {".crt", res.Certificate}} {
		if err := os.WriteFile(filepath.Join(dir, name+f.ext), f.data, 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("certificate for %s in %s\n", strings.Join(o.Domains, ", "), filepath.Join(dir, name+".crt"))
	return nil
}

func main() {
	o, err := ParseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lego: %v\n", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "lego: %v\n", err)
		os.Exit(1)
	}
}
