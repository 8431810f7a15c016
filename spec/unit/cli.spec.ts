// The command line as a user meets it: every script and every `paasbox`
// subcommand answers --help with usage and exit 0 without touching anything
// (docker, docker-compose, vagrant, apt-get, ssh and sudo are stubs on PATH
// that record any call), an unknown flag or verb is one line naming it with
// exit 2, and --version prints the package's version.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoPath } from '../../src/paths.js';

const STUBS = ['docker', 'docker-compose', 'vagrant', 'apt-get', 'ssh', 'sudo'];

describe('command line (--help touches nothing, unknown flags refused)', function () {
  this.timeout(120_000);
  let dir: string;
  let log: string;
  let env: NodeJS.ProcessEnv;
  const zx = repoPath('node_modules', '.bin', 'zx');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pb-cli-stubs-'));
    log = join(dir, 'calls.log');
    for (const s of STUBS) {
      writeFileSync(join(dir, s), `#!/bin/sh\necho "${s} $*" >> '${log}'\nexit 1\n`);
      chmodSync(join(dir, s), 0o755);
    }
    // The stubs shadow the real tools; node and a shell stay reachable.
    env = {
      ...process.env,
      PATH: `${dir}:${dirname(process.execPath)}:/usr/bin:/bin`,
      PAASBOX_STATE_DIR: join(dir, 'state'),
    };
    delete env['SSH_AUTH_SOCK'];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (cmd: string, args: string[]) =>
    spawnSync(cmd, args, { cwd: repoPath(), env, encoding: 'utf8', timeout: 60_000 });
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');

  const scripts = readdirSync(repoPath('scripts')).filter((f) => f.endsWith('.mjs'));

  it('has a script for each documented command', () => {
    expect(scripts).to.include.members([
      'install.mjs',
      'verify.mjs',
      'stack.mjs',
      'deploy.mjs',
      'push.mjs',
      'tunnel.mjs',
      'vpn.mjs',
      'info.mjs',
      'uninstall.mjs',
      'genstack.mjs',
      'build-images.mjs',
      'kitchen.mjs',
      'bench.mjs',
    ]);
  });

  for (const s of [
    'install.mjs',
    'verify.mjs',
    'stack.mjs',
    'deploy.mjs',
    'push.mjs',
    'tunnel.mjs',
    'vpn.mjs',
    'info.mjs',
    'uninstall.mjs',
    'genstack.mjs',
    'build-images.mjs',
    'kitchen.mjs',
    'bench.mjs',
  ]) {
    it(`npx zx scripts/${s} --help: usage, exit 0, no tool called`, () => {
      const r = run(zx, [`scripts/${s}`, '--help']);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^Usage: /);
      expect(calls()).to.equal('');
    });
  }

  for (const sub of [
    'install',
    'verify',
    'info',
    'status',
    'logs',
    'stack',
    'stack up',
    'stack down',
    'deploy',
    'push',
    'apps',
    'app',
    'app show',
    'app logs',
    'scale',
    'restart',
    'rollback',
    'destroy',
    'token',
    'token create',
    'token list',
    'token revoke',
    'cert',
    'cert add',
    'cert list',
    'cert rm',
    'cert renew',
    'uninstall',
    'genstack',
    'build-images',
    'kitchen',
    'kitchen create',
    'tunnel',
    'vpn',
    'vpn client',
    'vpn revoke',
    'vpn list',
    'bench',
  ]) {
    it(`paasbox ${sub} --help: usage, exit 0, no tool called`, () => {
      const r = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...sub.split(' '), '--help']);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^Usage: paasbox ${sub}`));
      expect(calls()).to.equal('');
    });
  }

  it('paasbox verify --help offers --from-here', () => {
    const r = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'verify', '--help']);
    expect(r.stdout).to.match(
      /--from-here\s+send the web UI, HAProxy-by-name and DNS checks from\s+this machine/,
    );
    expect(calls()).to.equal('');
  });

  it('paasbox deploy --help offers each --allow-... exception to the app policy', () => {
    const r = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'deploy', '--help']);
    expect(r.status, r.stderr).to.equal(0);
    const allows = [...r.stdout.matchAll(/^ {2}(--allow-[a-z-]+) /gm)].map((m) => m[1]);
    expect(allows).to.deep.equal([
      '--allow-host-mounts',
      '--allow-host-namespaces',
      '--allow-reserved-labels',
      '--allow-log-drivers',
      '--allow-docker-parameters',
      '--allow-wildcard-domains',
    ]);
    expect(calls()).to.equal('');
  });

  it('paasbox --help lists every command, and no other; --version prints the version', () => {
    const r = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), '--help']);
    expect(r.status).to.equal(0);
    const listed = [...r.stdout.split('\nCommands:\n')[1]!.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map(
      (m) => m[1],
    );
    expect(listed).to.deep.equal([
      'install',
      'verify',
      'info',
      'status',
      'logs',
      'stack',
      'deploy',
      'apps',
      'app',
      'scale',
      'restart',
      'rollback',
      'destroy',
      'token',
      'cert',
      'push',
      'uninstall',
      'genstack',
      'build-images',
      'kitchen',
      'tunnel',
      'vpn',
      'bench',
      'help',
    ]);
    const v = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), '--version']);
    expect(v.stdout.trim()).to.equal(
      (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version,
    );
  });

  it('an unknown flag: exit 2, one line naming it (and the near miss), nothing run', () => {
    const r = run(zx, ['scripts/install.mjs', '--sorce', 'registry']);
    expect(r.status).to.equal(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/unknown option '--sorce'.*--source/);
    expect(calls()).to.equal('');
  });

  it('the app commands refuse an unknown flag, a bad count and a missing id before any request', () => {
    const paasbox = (...a: string[]) => run(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...a]);
    const flag = paasbox('scale', '/team/app', '3', '--force');
    expect(flag.status).to.equal(2);
    expect(flag.stderr).to.match(/^paasbox: unknown option '--force'; see --help\n$/);
    const count = paasbox('scale', '/team/app', 'many', '--api', 'http://127.0.0.1:9');
    expect(count.status).to.equal(2);
    expect(count.stderr).to.match(/instances must be a whole number from 0 to 10000/);
    const id = paasbox('rollback', '--api', 'http://127.0.0.1:9');
    expect(id.status).to.equal(2);
    expect(id.stderr).to.match(/missing required argument 'id'/);
    expect(calls()).to.equal('');
  });

  it('an unknown verb, a bad choice and a bad number: exit 2 naming them', () => {
    const verb = run(zx, ['scripts/stack.mjs', 'bogus']);
    expect(verb.status).to.equal(2);
    expect(verb.stderr).to.match(/unknown command 'bogus'/);
    expect(verb.stderr).to.not.match(/TypeError|at .*\.js/);
    const choice = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'install', '--source', 'cloud']);
    expect(choice.status).to.equal(2);
    expect(choice.stderr).to.match(/'cloud' is invalid.*local, registry/);
    const num = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'install', '--health-timeout', 'abc']);
    expect(num.status).to.equal(2);
    expect(num.stderr).to.match(/--health-timeout must be a whole number/);
    for (const cmd of [
      ['install'],
      ['stack', 'up'],
      ['stack', 'down'],
      ['deploy', 'app.json'],
      ['uninstall'],
    ]) {
      const lock = run(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...cmd, '--lock-timeout', '-1']);
      expect(lock.status, cmd.join(' ')).to.equal(2);
      expect(lock.stderr, cmd.join(' ')).to.match(/--lock-timeout must be a whole number from 0 to 86400/);
    }
    expect(calls()).to.equal('');
  });
});
