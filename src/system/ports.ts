// Listening sockets on a target (`ss`): which ports are taken and by which
// process, for the ports step's conflict check, verify's catalog cross-check
// and the hardening checks. A command to run and its pure parser.

/** A TCP or UDP socket listening on the host. */
export interface ListeningSocket {
  protocol: 'tcp' | 'udp';
  /** 0.0.0.0, ::, *, or a specific address (interface suffix such as %lo dropped). */
  address: string;
  port: number;
  /** The process holding it, when ss may say (root sees every process). */
  process?: string;
  pid?: number;
}

/** Listening TCP and UDP sockets with their processes, numeric, no header. */
export const LISTENING_COMMAND = 'ss -Hltunp';

/** LISTENING_COMMAND's lines → sockets. Local address forms: 0.0.0.0:80, [::]:80, *:80, 127.0.0.1%lo:53. */
export function parseListening(ssOut: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of ssOut.split('\n')) {
    // Netid State Recv-Q Send-Q Local:Port Peer:Port [users:((...))]
    const cols = line.trim().split(/\s+/);
    const netid = cols[0];
    if (netid !== 'tcp' && netid !== 'udp') continue;
    const m = /^(.*):(\d+)$/.exec(cols[4] ?? '');
    if (!m) continue;
    const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    out.push({
      protocol: netid,
      address: m[1]!.replace(/^\[|\]$/g, '').replace(/%.*$/, ''),
      port: Number(m[2]),
      ...(proc ? { process: proc[1]!, pid: Number(proc[2]) } : {}),
    });
  }
  return out;
}

/** Ports listening on the target, for cross-checking catalog ports. */
export function parseSsListening(stdout: string): Set<number> {
  return new Set(parseListening(stdout).map((s) => s.port));
}
