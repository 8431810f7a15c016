// DNS facts on a target: a query built and decoded here with dns-packet,
// sent to the target's resolver as one datagram through bash's /dev/udp, so
// no dig is needed on the target.

import dnsPacket from 'dns-packet';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';

export type DnsRecordType = 'A' | 'SRV';

export interface DnsAnswer {
  /** NOERROR, NXDOMAIN, SERVFAIL, ... or TIMEOUT when nothing came back. */
  rcode: string;
  a: string[];
  srv: { priority: number; weight: number; port: number; target: string }[];
  error?: string;
}

export function dnsQuery(name: string, type: DnsRecordType, id = Math.floor(Math.random() * 65535)): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
}

/** Reads the query from stdin, sends it as one datagram, prints the answer datagram base64-encoded. */
export function dnsUdpCommand(server: string, port: number, timeoutS = 3): string {
  const script = `exec 3<>/dev/udp/${server}/${port} || exit 7; head -c 512 >&3; timeout ${timeoutS} dd bs=65535 count=1 <&3 2>/dev/null | base64 -w0`;
  return `bash -c ${shq(script)}`;
}

export function parseDnsAnswer(base64: string): DnsAnswer {
  const raw = Buffer.from(base64.trim(), 'base64');
  if (raw.length === 0) return { rcode: 'TIMEOUT', a: [], srv: [], error: 'no answer' };
  let p: dnsPacket.Packet;
  try {
    p = dnsPacket.decode(raw);
  } catch (e) {
    return {
      rcode: 'FORMERR',
      a: [],
      srv: [],
      error: `undecodable answer: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  const answers = p.answers ?? [];
  const a: string[] = [];
  const srv: DnsAnswer['srv'] = [];
  for (const ans of answers) {
    if (ans.type === 'A') a.push(ans.data);
    if (ans.type === 'SRV')
      srv.push({
        priority: ans.data.priority ?? 0,
        weight: ans.data.weight ?? 0,
        port: ans.data.port,
        target: ans.data.target,
      });
  }
  return { rcode: (p as { rcode?: string }).rcode ?? 'NOERROR', a, srv };
}

export async function dnsLookup(
  target: Target,
  server: string,
  port: number,
  name: string,
  type: DnsRecordType,
): Promise<DnsAnswer> {
  const r = await target.exec(dnsUdpCommand(server, port), {
    stdin: dnsQuery(name, type),
    timeoutMs: 15_000,
  });
  if (r.code !== 0 && !r.stdout.trim())
    return {
      rcode: 'TIMEOUT',
      a: [],
      srv: [],
      error: r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`,
    };
  return parseDnsAnswer(r.stdout);
}

export function describeDns(d: DnsAnswer, type: DnsRecordType): string {
  if (d.error) return `${d.rcode}: ${d.error}`;
  if (type === 'A') return d.a.length ? `${d.rcode} A ${d.a.join(', ')}` : `${d.rcode}, no A record`;
  return d.srv.length
    ? `${d.rcode} SRV ${d.srv.map((s) => `${s.target}:${s.port}`).join(', ')}`
    : `${d.rcode}, no SRV record`;
}
