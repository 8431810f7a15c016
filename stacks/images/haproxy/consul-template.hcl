# consul-template for paasbox HAProxy. The Consul address comes from
# CONSUL_HTTP_ADDR. It renders to haproxy.cfg.new; haproxy-reload validates it,
# moves it in place and reloads through the master socket. The certificates of
# public names render to certs.bundle (0600), which haproxy-reload hands to
# haproxy-certs before it checks and reloads: one command for both, so a change
# to either is one reload.
log_level = "info"
kill_signal = "SIGTERM"

consul {
  retry {
    enabled     = true
    attempts    = 0
    backoff     = "250ms"
    max_backoff = "5s"
  }
}

# Coalesce only what changes together (a burst of instances starting within a
# few ms) into one reload: every wait here is added to each instance's time to
# route. max bounds the delay under continuous churn (a 20-instance deploy).
wait {
  min = "5ms"
  max = "500ms"
}

template {
  source          = "/etc/haproxy/haproxy.cfg.ctmpl"
  destination     = "/etc/haproxy/haproxy.cfg.new"
  perms           = 0644
  command         = "/usr/local/bin/haproxy-reload"
  command_timeout = "60s"
}

template {
  source          = "/etc/haproxy/certs.ctmpl"
  destination     = "/etc/haproxy/certs.bundle"
  perms           = 0600
  command         = "/usr/local/bin/haproxy-reload"
  command_timeout = "60s"
}
