// stacks/images/dnsmasq/paasbox-dns.sh with a fake dnsmasq: which dnsmasq it
// starts with which options for the stack's own command (stacks/paasbox.yaml),
// what it refuses, and that the container goes down with either dnsmasq.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePlaceholders } from '../../src/stackfile/generate.js';
import { loadStackModel } from '../../src/model/load.js';
import { repoPath } from '../../src/paths.js';
import { modelVals } from '../helpers/devstack.js';

const script = repoPath('stacks', 'images', 'dnsmasq', 'paasbox-dns.sh');

interface Run {
  code: number | null;
  stderr: string;
  /** argv of each fake dnsmasq started, in start order. */
  instances: string[][];
}

/**
 * Run the entrypoint with a fake dnsmasq that records its argv and then runs
 * `behaviour` (sh): by default it sleeps until killed.
 */
function runEntrypoint(
  args: string[],
  opts: { behaviour?: (n: number) => string; signalAfterMs?: number; timeoutMs?: number } = {},
): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'pbdns-'));
  const fake = join(dir, 'dnsmasq');
  // Each instance takes the next number, records its argv one per line, then behaves.
  writeFileSync(
    fake,
    [
      '#!/bin/sh',
      // mkdir is atomic: two instances started at once still get different numbers.
      `n=0; while ! mkdir ${dir}/slot-$n 2>/dev/null; do n=$((n + 1)); done`,
      `for a in "$@"; do printf '%s\\n' "$a"; done > ${dir}/argv-$n`,
      `case $n in 0) ${opts.behaviour?.(0) ?? 'exec sleep 30'} ;; *) ${opts.behaviour?.(1) ?? 'exec sleep 30'} ;; esac`,
      '',
    ].join('\n'),
  );
  chmodSync(fake, 0o755);
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [script, ...args], {
      env: { ...process.env, PAASBOX_DNSMASQ: fake },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    if (opts.signalAfterMs !== undefined) setTimeout(() => p.kill('SIGTERM'), opts.signalAfterMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(kill);
      const instances: string[][] = [];
      for (let i = 0; i < 2; i++) {
        try {
          instances.push(
            readFileSync(join(dir, `argv-${i}`), 'utf8')
              .split('\n')
              .filter(Boolean),
          );
        } catch {
          break;
        }
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stderr, instances });
    });
  });
}

/** The dns service's command from stacks/paasbox.yaml, resolved for IP 10.11.12.13. */
function modelCommand(ip = '10.11.12.13'): string[] {
  const model = loadStackModel();
  const vals = modelVals(model, 'dns', { IP: ip, HOSTNAME: 'h', DOMAIN: 'consul', ZK_HOSTS: `${ip}:2181` });
  return (model.services['dns']!.command ?? []).map((c) => resolvePlaceholders(c, vals, 'services.dns'));
}

describe('dns entrypoint (paasbox-dns.sh, fake dnsmasq)', () => {
  it('runs the stack command as two dnsmasq: loopback with upstreams, the stack address for .consul only', async () => {
    const r = await runEntrypoint(modelCommand(), { signalAfterMs: 500 });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.instances).to.have.length(2);
    const loop = r.instances.find((a) => a.includes('--listen-address=127.0.0.1'))!;
    const net = r.instances.find((a) => a !== loop)!;
    for (const argv of [loop, net]) {
      // Chosen addresses only, no later interface, as the dnsmasq user.
      expect(argv)
        .to.include('--bind-interfaces')
        .and.include('--user=dnsmasq')
        .and.include('--server=/consul/10.11.12.13#8600')
        .and.include('--port=53');
      expect(argv).to.not.include('--bind-dynamic');
      expect(argv.filter((a) => a.startsWith('--listen-address='))).to.have.length(1);
    }
    expect(loop).to.include('--listen-address=127.0.0.1').and.not.include('--no-resolv');
    expect(net).to.include('--listen-address=10.11.12.13').and.include('--no-resolv');
  });

  it('runs only the loopback dnsmasq when the stack address is 127.0.0.1', async () => {
    const r = await runEntrypoint(modelCommand('127.0.0.1'), { signalAfterMs: 500 });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.instances).to.have.length(1);
    expect(r.instances[0]!.filter((a) => a.startsWith('--listen-address='))).to.deep.equal([
      '--listen-address=127.0.0.1',
    ]);
  });

  for (const bad of [
    '--bind-dynamic',
    '--interface=eth0',
    '--except-interface=virbr0',
    '--local-service',
    '--user=root',
    '-uroot',
  ]) {
    it(`refuses ${bad} before starting anything`, async () => {
      const r = await runEntrypoint([...modelCommand(), bad]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include(`${bad} is not accepted`);
      expect(r.instances).to.deep.equal([]);
    });
  }

  it('exits with the code of a dnsmasq that dies, stopping the other', async () => {
    const t0 = Date.now();
    const r = await runEntrypoint(modelCommand(), {
      behaviour: (n) => (n === 1 ? 'sleep 0.2; exit 5' : 'exec sleep 30'),
    });
    expect(r.code).to.equal(5);
    expect(r.stderr).to.include('a dnsmasq exited (5), stopping');
    expect(Date.now() - t0).to.be.below(5000);
  });
});
