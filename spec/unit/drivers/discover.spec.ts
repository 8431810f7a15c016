// Stage discovery, pure parts: the one ssh-config reader (tools' ssh-config
// and `ssh -G` output), a host as written completed from ~/.ssh/config
// (aliases, User, Port, IdentityFile, ProxyJump), the mode choice, and
// docker-machine's inspect JSON.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../../../src/errors.js';
import { dockerMachineInfo } from '../../../src/drivers/docker-vm.js';
import { detectMode, parseMode } from '../../../src/drivers/index.js';
import { sshInfoFor } from '../../../src/drivers/ssh.js';
import { infoFromEntry } from '../../../src/drivers/tools.js';
import { vagrantPrivateIp, vagrantProvider } from '../../../src/drivers/vagrant.js';
import { resolveStage } from '../../../src/instance/open.js';
import {
  expandHome,
  firstExistingIdentity,
  parseSshConfig,
  type SshConfigEntry,
} from '../../../src/drivers/ssh-config.js';
import { isCI } from '../../helpers/ci.js';

const VAGRANT = `Host default
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/proj/.vagrant/machines/default/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host docker
  HostName 172.17.0.5
  User root
  Port 22
  IdentityFile "/tmp/key one"
`;

describe('stage discovery', () => {
  it('parses vagrant ssh-config (several machines, quoted paths)', () => {
    expect(parseSshConfig(VAGRANT)).to.deep.equal([
      {
        name: 'default',
        hostname: '127.0.0.1',
        port: 2222,
        user: 'vagrant',
        strictHostKeyChecking: 'no',
        identityFiles: ['/home/me/proj/.vagrant/machines/default/virtualbox/private_key'],
      },
      { name: 'docker', hostname: '172.17.0.5', port: 22, user: 'root', identityFiles: ['/tmp/key one'] },
    ]);
  });

  it('parses key=value forms and `ssh -G` output (lower-case keys, defaults listed, proxyjump none)', () => {
    expect(parseSshConfig('Host a\nHostName=10.0.0.1\nPort=2200\n')).to.deep.equal([
      { name: 'a', hostname: '10.0.0.1', port: 2200, identityFiles: [] },
    ]);
    const g =
      'host web\nuser deploy\nhostname 10.1.2.3\nport 2201\nidentityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\nproxyjump none\nstricthostkeychecking ask\n';
    expect(parseSshConfig(g)[0]).to.deep.equal({
      name: 'web',
      user: 'deploy',
      hostname: '10.1.2.3',
      port: 2201,
      identityFiles: ['~/.ssh/id_rsa', '~/.ssh/id_ed25519'],
      strictHostKeyChecking: 'ask',
    });
  });

  it('picks the first identity file that exists, ~ expanded', () => {
    const home = mkdtempSync(join(tmpdir(), 'pb-home-'));
    expect(expandHome('~/.ssh/x', home)).to.equal(`${home}/.ssh/x`);
    const e: SshConfigEntry = { name: 'h', identityFiles: ['/nope/id_rsa', '/tmp/exists'] };
    expect(firstExistingIdentity(e, (p) => p === '/tmp/exists')).to.equal('/tmp/exists');
    expect(firstExistingIdentity({ name: 'h', identityFiles: ['/nope'] }, () => false)).to.equal(undefined);
  });

  it('sshInfoFor: an alias takes HostName, User, Port and ProxyJump from the config; what is written wins', async () => {
    const cfg: Record<string, SshConfigEntry> = {
      web: {
        name: 'web',
        hostname: '10.1.2.3',
        user: 'deploy',
        port: 2201,
        identityFiles: [],
        proxyJump: 'jump',
      },
      jump: { name: 'jump', hostname: '10.9.9.9', user: 'hop', identityFiles: [] },
    };
    const lookup = async (h: string) => cfg[h];
    const web = await sshInfoFor('web', { lookup });
    expect(web).to.deep.include({
      host: '10.1.2.3',
      user: 'deploy',
      port: 2201,
      alias: 'web',
      hostKeyPolicy: 'accept-new',
    });
    expect(web.proxyJump).to.deep.include({ host: '10.9.9.9', user: 'hop', port: 22 });
    const explicit = await sshInfoFor('root@web:22', { lookup, keyPath: '/k', hostKeyPolicy: 'strict' });
    expect(explicit).to.deep.include({
      host: '10.1.2.3',
      user: 'root',
      port: 22,
      keyPath: '/k',
      hostKeyPolicy: 'strict',
    });
    const plain = await sshInfoFor('10.0.0.5', { lookup: async () => undefined });
    expect(plain).to.deep.equal({ host: '10.0.0.5', port: 22, user: 'root', hostKeyPolicy: 'accept-new' });
  });

  it('sshInfoFor reads a real ~/.ssh/config through `ssh -G` (Host alias, User, Port, IdentityFile)', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'pb-sshcfg-'));
    const key = join(dir, 'id_test');
    writeFileSync(key, 'not a key', { mode: 0o600 });
    const conf = join(dir, 'config');
    writeFileSync(
      conf,
      `Host pbalias\n  HostName 10.20.30.40\n  User deployer\n  Port 2022\n  IdentityFile ${key}\n`,
    );
    // ssh -F is the same reader as ~/.ssh/config; the lookup runs the real client.
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const r = await promisify(execFile)('ssh', ['-G', '-F', conf, 'pbalias']).catch(() => undefined);
    if (!r) {
      if (isCI()) throw new Error('no ssh client: CI installs openssh-client');
      this.skip();
    }
    const info = await sshInfoFor('pbalias', { lookup: async () => parseSshConfig(r!.stdout)[0] });
    expect(info).to.deep.include({
      host: '10.20.30.40',
      user: 'deployer',
      port: 2022,
      keyPath: key,
      alias: 'pbalias',
    });
  });

  it('a VM tool that says StrictHostKeyChecking no still gets a pinned, per-instance known_hosts', () => {
    const [vagrant] = parseSshConfig(VAGRANT);
    const info = infoFromEntry(vagrant!, 'default');
    expect(info).to.deep.include({
      host: '127.0.0.1',
      port: 2222,
      user: 'vagrant',
      hostKeyPolicy: 'accept-new',
    });
    expect(info.knownHostsPath).to.match(/instances\/default\.known_hosts$/);
    const dm = dockerMachineInfo(
      JSON.stringify({
        Name: 'dev',
        DriverName: 'virtualbox',
        Driver: { SSHPort: 50022, SSHUser: 'docker', SSHKeyPath: '/m/id_rsa' },
      }),
      'default',
    );
    expect(dm).to.deep.include({
      host: '127.0.0.1',
      port: 50022,
      user: 'docker',
      keyPath: '/m/id_rsa',
      hostKeyPolicy: 'accept-new',
    });
    expect(dm.knownHostsPath).to.match(/default\.known_hosts$/);
  });

  it('resolveStage: user@host is a host, not an instance name; strict host keys when asked', async () => {
    const r = await resolveStage('deploy@10.0.0.9:2200', {
      lookup: async () => undefined,
      hostKeyPolicy: 'strict',
      cwd: mkdtempSync(join(tmpdir(), 'pb-rs-')),
    });
    expect(r.ref).to.deep.equal({
      kind: 'ssh',
      ssh: { host: '10.0.0.9', port: 2200, user: 'deploy', hostKeyPolicy: 'strict' },
    });
    expect(r.instance).to.equal(undefined);
  });

  it("a Vagrant VM advertises the private network address, from vagrant status's provider", () => {
    const status =
      '1700000000,default,metadata,provider,libvirt\n1700000000,default,provider-name,libvirt\n1700000000,default,state,running\n';
    expect(vagrantProvider(status)).to.equal('libvirt');
    expect(vagrantProvider(status.replace(/libvirt/g, 'docker'))).to.equal('docker');
    expect(vagrantProvider('nothing')).to.equal(undefined);
    expect(vagrantPrivateIp({})).to.equal('192.168.59.103');
    expect(vagrantPrivateIp({ PAASBOX_IP: '192.168.56.10' })).to.equal('192.168.56.10');
  });

  const f = {
    platform: 'linux' as NodeJS.Platform,
    commands: [] as string[],
    dockerRuns: true,
    hasHost: false,
  };
  it('detects: --host → ssh; Linux with docker → standalone; macOS → vagrant, else a docker VM tool', () => {
    expect(detectMode({ ...f, hasHost: true }).mode).to.equal('ssh');
    expect(detectMode(f)).to.deep.include({ mode: 'standalone' });
    expect(detectMode({ ...f, dockerRuns: false }).why).to.match(/installs and starts it/);
    expect(detectMode({ ...f, platform: 'darwin', commands: ['vagrant', 'colima'] }).mode).to.equal(
      'vagrant',
    );
    const b = detectMode({ ...f, platform: 'darwin', commands: ['colima'] });
    expect(b.mode).to.equal('boot2docker');
    expect(b.why).to.include('colima');
  });

  it('says what to install on macOS with neither vagrant nor a VM tool', () => {
    expect(() => detectMode({ ...f, platform: 'darwin' })).to.throw(PaasboxError, /no vagrant/);
  });

  it('rejects an unknown --mode naming the choices', () => {
    expect(() => parseMode('kubernetes')).to.throw(
      PaasboxError,
      /"kubernetes".*standalone, ssh, vagrant, boot2docker/,
    );
  });
});
