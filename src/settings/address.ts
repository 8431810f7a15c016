// Picking the address this host advertises, from `ip` command output. Pure, so
// the caller runs the commands on whatever Target it has.

/** The commands whose combined output pickAdvertiseAddress parses. */
export const ADDRESS_COMMAND = 'ip -4 route show default 2>/dev/null; ip -4 -o addr show 2>/dev/null';

/**
 * From `ip -4 route show default` / `ip route get` and `ip -4 -o addr` output,
 * the address to advertise: the default route's `src`, else the address of the
 * default route's device, else the first global non-docker address. Never 127.x.
 */
export function pickAdvertiseAddress(ipOutput: string): string | undefined {
  const lines = ipOutput
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const usable = (a: string | undefined): a is string => !!a && !a.startsWith('127.') && a !== '0.0.0.0';

  const addrs: { dev: string; addr: string; global: boolean }[] = [];
  for (const l of lines) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/\d+.*?scope\s+(\S+)/.exec(l);
    if (m) addrs.push({ dev: m[1]!, addr: m[2]!, global: m[3] === 'global' });
  }
  for (const l of lines) {
    if (/^\d+:/.test(l)) continue;
    const src = /\bsrc\s+(\d+\.\d+\.\d+\.\d+)/.exec(l)?.[1];
    if (usable(src)) return src;
    const dev = /^default\b.*?\bdev\s+(\S+)/.exec(l)?.[1];
    const onDev = addrs.find((a) => a.dev === dev && usable(a.addr));
    if (onDev) return onDev.addr;
  }
  const bridge = /^(docker\d*|br-|veth|virbr|cni|flannel)/;
  return (
    addrs.find((a) => a.global && !bridge.test(a.dev) && usable(a.addr))?.addr ??
    addrs.find((a) => a.global && usable(a.addr))?.addr
  );
}
