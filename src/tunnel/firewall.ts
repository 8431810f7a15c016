// What the tunnel changes in this machine's network setup, read back so
// `status` can say what is routed and `down` can prove every change is gone.
// sshuttle's nat method (Linux) adds one chain, sshuttle-PORT (PORT: its
// redirector port), to the nat table, jumped to from OUTPUT and PREROUTING;
// its nft method adds a table sshuttle-ipv4-PORT. The resolver part adds a
// link and an address (systemd-resolved). `up` snapshots routes, policy
// rules, links, addresses and firewall lines before and after, keeps what
// was added, and `down` checks each of those is gone. Pure parsing here; the
// commands that read them are in tunnel.ts.

/** The raw outputs a snapshot is made of; a missing tool or no permission leaves its field undefined. */
export interface NetworkFacts {
  iptablesSave?: string;
  nftRuleset?: string;
  /** `ip -o route show table all` */
  routes?: string;
  /** `ip -o rule show` */
  rules?: string;
  /** `ip -o link show` */
  links?: string;
  /** `ip -o addr show` */
  addrs?: string;
}

/** The commands that read NetworkFacts (each may fail: then its field stays undefined). */
export const FACT_COMMANDS: Record<keyof NetworkFacts, string> = {
  iptablesSave: 'iptables-save',
  nftRuleset: 'nft list ruleset',
  routes: 'ip -o route show table all',
  rules: 'ip -o rule show',
  links: 'ip -o link show',
  addrs: 'ip -o addr show',
};

/** iptables-save without comments and packet counters: the rules themselves. */
export function normalizeIptables(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, '').replace(/^(-A .*?) -c \d+ \d+/, '$1'));
}

/**
 * `nft list ruleset` flattened to one line per rule, each prefixed by its
 * table and chain ("table ip nat | chain OUTPUT | ip daddr ... redirect to
 * :12299"), without counters, so two listings compare line by line.
 */
export function flattenNft(text: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const raw of text.split('\n')) {
    const l = raw.trim().replace(/(^|\s)counter packets \d+ bytes \d+/, '$1counter');
    if (!l || l.startsWith('#')) continue;
    if (l.endsWith('{')) {
      stack.push(l.slice(0, -1).trim());
      out.push(stack.join(' | '));
      continue;
    }
    if (l === '}') {
      stack.pop();
      continue;
    }
    out.push([...stack, l].join(' | '));
  }
  return out;
}

/**
 * Firewall lines that belong to the tunnel listening on `port` (iptables chain sshuttle-PORT, nft table
 * sshuttle-ipv4-PORT).
 */
export function tunnelFirewallLines(
  f: Pick<NetworkFacts, 'iptablesSave' | 'nftRuleset'>,
  port: number,
): string[] {
  const chain = new RegExp(`\\bsshuttle-(ipv4-)?${port}\\b`);
  const ipt = f.iptablesSave
    ? normalizeIptables(f.iptablesSave)
        .filter((l) => chain.test(l))
        .map((l) => `iptables: ${l}`)
    : [];
  const nft = f.nftRuleset
    ? flattenNft(f.nftRuleset)
        .filter((l) => chain.test(l))
        .map((l) => `nft: ${l}`)
    : [];
  return [...ipt, ...nft];
}

export interface Redirects {
  /** Destinations whose TCP goes through the tunnel. */
  tcp: string[];
  /** DNS servers whose UDP 53 queries go through the tunnel. */
  dns: string[];
}

/** What sshuttle's chain routes, from its iptables rules. */
export function redirectsOf(lines: string[]): Redirects {
  const tcp: string[] = [];
  const dns: string[] = [];
  for (const l of lines) {
    const m = /-A sshuttle-\d+ -d (\S+) (.*)-j REDIRECT/.exec(l);
    if (!m) continue;
    const dest = m[1]!;
    if (/-p udp\b.*--dport 53\b/.test(m[2]!)) dns.push(dest.replace(/\/32$/, ''));
    else if (/-p tcp\b/.test(m[2]!)) tcp.push(dest);
  }
  if (!tcp.length && !dns.length) {
    // nft method: "ip daddr 10.0.0.5 udp dport 53 ... redirect" / "meta l4proto tcp ip daddr 10.0.0.0/24 ...
    // redirect"
    for (const l of lines) {
      const m = /ip daddr (\S+)(.*)redirect to/.exec(l);
      if (!m || !/^nft: .*sshuttle-/.test(l)) continue;
      if (/udp dport 53\b/.test(m[2]!)) dns.push(m[1]!);
      else if (/l4proto tcp/.test(l)) tcp.push(m[1]!.includes('/') ? m[1]! : `${m[1]}/32`);
    }
  }
  return { tcp, dns };
}

/**
 * A snapshot as a set of comparable lines: "route: ...", "link: NAME", "addr: DEV CIDR", "iptables: ...",
 * "nft: ...".
 */
export function snapshotLines(f: NetworkFacts): string[] {
  const out: string[] = [];
  const lines = (s: string | undefined) =>
    (s ?? '')
      .split('\n')
      .map((l) => l.replace(/\\/g, ' ').replace(/\s+/g, ' ').trim())
      .filter(Boolean);
  for (const l of lines(f.routes)) out.push(`route: ${l.replace(/ (expires|age) \S+/g, '')}`);
  for (const l of lines(f.rules)) out.push(`rule: ${l}`);
  for (const l of lines(f.links)) {
    const m = /^\d+: ([^:@ ]+)/.exec(l);
    if (m) out.push(`link: ${m[1]}`);
  }
  for (const l of lines(f.addrs)) {
    const m = /^\d+: (\S+) inet6? (\S+)/.exec(l);
    if (m) out.push(`addr: ${m[1]} ${m[2]}`);
  }
  if (f.iptablesSave)
    out.push(
      ...normalizeIptables(f.iptablesSave)
        .filter((l) => !l.startsWith('*') && l !== 'COMMIT')
        .map((l) => `iptables: ${l}`),
    );
  if (f.nftRuleset) out.push(...flattenNft(f.nftRuleset).map((l) => `nft: ${l}`));
  return out;
}

/** Lines in `after` that `before` lacks (each counted: a rule added twice is two lines). */
export function added(before: string[], after: string[]): string[] {
  const have = new Map<string, number>();
  for (const l of before) have.set(l, (have.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of after) {
    const n = have.get(l) ?? 0;
    if (n > 0) have.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

/** Of the lines the tunnel added, those still present now. */
export function leftOver(addedLines: string[], now: string[]): string[] {
  const have = new Set(now);
  return addedLines.filter((l) => have.has(l));
}

/**
 * The firewall lines `up` owns among those added meanwhile: those of its own
 * chain (sshuttle-PORT, sshuttle-ipv4-PORT), and with nft the chains and
 * tables that did not exist before (iptables-nft makes the nat table's base
 * chains on demand for sshuttle's jumps, and leaves them behind empty).
 * Everything else added meanwhile (routes, rules, links, addresses) is owned
 * too: only the resolver changes those.
 */
export function ownedLines(before: string[], after: string[], port: number): string[] {
  const chain = new RegExp(`\\bsshuttle-(ipv4-)?${port}\\b`);
  const fresh = added(before, after);
  const headers = new Set(fresh.filter((l) => /^nft: table [^|]+( \| chain [^|]+)?$/.test(l)));
  const underNewHeader = (l: string) => {
    const parts = l.split(' | ');
    return headers.has(parts[0]!) || (parts.length > 1 && headers.has(`${parts[0]} | ${parts[1]}`));
  };
  return fresh.filter(
    (l) => !/^(iptables|nft): /.test(l) || chain.test(l) || (l.startsWith('nft: ') && underNewHeader(l)),
  );
}

/**
 * The nft commands that remove chains and tables `up` created (their header
 * lines are in `owned`) and that are empty now: chains first, then a table
 * whose every chain goes. A chain with a rule in it is never touched.
 */
export function nftCleanup(owned: string[], now: string[]): string[] {
  const have = new Set(now);
  const cmds: string[] = [];
  const bodyOf = (header: string) =>
    now.filter((x) => x.startsWith(`${header} | `) && !/^type /.test(x.slice(header.length + 3)));
  for (const l of owned) {
    const m = /^nft: table (\S+) (\S+) \| chain (\S+)$/.exec(l);
    if (m && have.has(l) && bodyOf(l).length === 0) cmds.push(`nft delete chain ${m[1]} ${m[2]} ${m[3]}`);
  }
  for (const l of owned) {
    const m = /^nft: table (\S+) (\S+)$/.exec(l);
    if (!m || !have.has(l)) continue;
    const chains = now.filter((x) => x.startsWith(`${l} | chain `) && x.split(' | ').length === 2);
    const rest = now.filter((x) => x.startsWith(`${l} | `) && !x.slice(l.length + 3).startsWith('chain '));
    const going = chains.filter((c) =>
      cmds.includes(`nft delete chain ${m[1]} ${m[2]} ${c.split(' | chain ')[1]}`),
    );
    if (going.length === chains.length && rest.length === 0) cmds.push(`nft delete table ${m[1]} ${m[2]}`);
  }
  return cmds;
}
