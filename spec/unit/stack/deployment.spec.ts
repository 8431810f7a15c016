// The deployment record read back from a target (the compose file's x-paasbox
// and paasbox.ports labels) is refused field by field when a value is not in
// its format: those values reach root shell lines, paths and DNS settings.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { parseDeployment, readDeployment } from '../../../src/stackfile/deployment.js';
import { isReadBackError } from '../../../src/system/readback.js';
import { repoPath } from '../../../src/paths.js';
import { AnsweringTarget } from '../../helpers/answering-target.js';

const GOLDEN = repoPath('spec', 'golden');

type Doc = {
  services: Record<string, { labels: Record<string, string> }>;
  'x-paasbox': Record<string, unknown>;
};

/** A golden compose file with its x-paasbox record (or a service's label) changed. */
function tampered(change: (doc: Doc) => void): string {
  const doc = parse(readFileSync(`${GOLDEN}/cluster-master1.registry.yml`, 'utf8')) as Doc;
  change(doc);
  return stringify(doc);
}

function refused(text: string, field: RegExp): void {
  let err: unknown;
  try {
    parseDeployment(text);
  } catch (e) {
    err = e;
  }
  expect(isReadBackError(err), `expected a ReadBackError, got ${String(err)}`).to.equal(true);
  expect((err as Error).message).to.match(field);
  expect((err as { fix: string }).fix)
    .to.include('re-install the stack')
    .and.include('/opt/paasbox/docker-compose.yml');
}

describe('deployment record read back from a target', () => {
  it("accepts every golden compose file's record", () => {
    const files = readdirSync(GOLDEN).filter((f) => f.endsWith('.yml'));
    expect(files.length).to.be.greaterThan(3);
    for (const f of files) {
      const d = parseDeployment(readFileSync(`${GOLDEN}/${f}`, 'utf8'));
      expect(d, f).to.not.equal(undefined);
      expect(d!.meta.project, f).to.equal('paasbox');
    }
  });

  it('refuses x-paasbox.apps that is no mapping or holds no sane limits', () => {
    refused(
      tampered((d) => (d['x-paasbox']['apps'] = null)),
      /x-paasbox\.apps "null": not a mapping/,
    );
    refused(
      tampered(
        (d) => (d['x-paasbox']['apps'] = { tcpPorts: { min: 8000, max: 9000 }, maxInstancesPerNode: 250 }),
      ),
      /x-paasbox\.apps: apps\.tcpPorts 8000-9000 holds port 8300/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['apps'] = { tcpPorts: '1-2', maxInstancesPerNode: 250 })),
      /x-paasbox\.apps: apps\.tcpPorts "1-2" is not a range/,
    );
    refused(
      tampered(
        (d) =>
          (d['x-paasbox']['apps'] = { tcpPorts: { min: 10000, max: 10999 }, maxInstancesPerNode: 1e9 + 0.5 }),
      ),
      /maxInstancesPerNode/,
    );
  });

  it('refuses a domain with ";", a newline or a space', () => {
    for (const bad of ['a;b', 'consul\nnameserver 1.2.3.4', 'con sul', "consul'; id #"]) {
      refused(
        tampered((d) => (d['x-paasbox']['domain'] = bad)),
        /^the target's compose file has x-paasbox\.domain ".*": not a DNS name/,
      );
    }
    refused(
      tampered((d) => (d['x-paasbox']['domain'] = 'a;b')),
      /x-paasbox\.domain "a;b": not a DNS name/,
    );
  });

  it('refuses an ip that is not IPv4, a project with "/", a bad hostname, source or stack', () => {
    refused(
      tampered((d) => (d['x-paasbox']['ip'] = '10.0.0.1; reboot')),
      /x-paasbox\.ip "10\.0\.0\.1; reboot": not an IPv4 address/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['ip'] = '999.1.1.1')),
      /x-paasbox\.ip/,
    );
    refused(
      tampered((d) => delete d['x-paasbox']['ip']),
      /x-paasbox\.ip undefined|x-paasbox\.ip "undefined"/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['project'] = 'pb/../../etc')),
      /x-paasbox\.project "pb\/\.\.\/\.\.\/etc": not a compose project name/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['hostname'] = 'h11 $(id)')),
      /x-paasbox\.hostname .*: not a host name/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['source'] = 'elsewhere')),
      /x-paasbox\.source "elsewhere": not an image source/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['stack'] = 'a b')),
      /x-paasbox\.stack "a b"/,
    );
  });

  it('refuses a cluster master or agent list with a bad entry', () => {
    refused(
      tampered((d) => ((d['x-paasbox']['cluster'] as { masters: string[] }).masters[1] = '10.20.0.12;id')),
      /x-paasbox\.cluster\.masters\[1\] "10\.20\.0\.12;id": not an IPv4 address/,
    );
    refused(
      tampered((d) => ((d['x-paasbox']['cluster'] as { agents: string[] }).agents = ['h.example'])),
      /x-paasbox\.cluster\.agents\[0\] "h\.example"/,
    );
    refused(
      tampered((d) => ((d['x-paasbox']['cluster'] as { masters: unknown }).masters = '10.20.0.11')),
      /x-paasbox\.cluster\.masters "10\.20\.0\.11": not a list/,
    );
  });

  it('refuses a bad service name, ports label, elsewhere entry, omitted reason or override', () => {
    refused(
      tampered((d) => (d.services['x;y'] = { labels: {} })),
      /a service named "x;y": not a service name/,
    );
    refused(
      tampered((d) => (d.services['consul']!.labels['paasbox.ports'] = 'http=8500/tcp;id')),
      /services\.consul\.labels\.paasbox\.ports "http=8500\/tcp;id": not a ports label/,
    );
    refused(
      tampered((d) => (d.services['consul']!.labels['paasbox.ports'] = 'http=99999/tcp')),
      /not a ports label/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['elsewhere'] = ['mesos-slave', '../x'])),
      /x-paasbox\.elsewhere\[1\] "\.\.\/x": not a service name/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['omitted'] = { sshd: 'no image\n\u001b[2J' })),
      /x-paasbox\.omitted\.sshd .*: not text without control characters/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['services'] = { consul: { ports: { http: '8500; id' } } })),
      /x-paasbox\.services\.consul\.ports\.http "8500; id": not a port number/,
    );
    refused(
      tampered((d) => (d['x-paasbox']['services'] = { consul: { enabled: 'yes' } })),
      /x-paasbox\.services\.consul\.enabled "yes": not true or false/,
    );
  });

  it('readDeployment passes a refusal on (not "no stack here"); an absent file is still undefined', async () => {
    const bad = tampered((d) => (d['x-paasbox']['domain'] = 'a;b'));
    const t = new AnsweringTarget('h', '10.0.0.5', (c) => (c.startsWith('cat ') ? { stdout: bad } : {}));
    let err: unknown;
    await readDeployment(t).catch((e: unknown) => (err = e));
    expect(isReadBackError(err)).to.equal(true);
    const none = new AnsweringTarget('h', '10.0.0.5', () => ({ code: 1, stdout: '' }));
    expect(await readDeployment(none)).to.equal(undefined);
  });
});
