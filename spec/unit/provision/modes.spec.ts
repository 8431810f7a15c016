import { expect } from 'chai';
import { PaasboxError } from '../../../src/errors.js';
import { detectMode, parseMode, parseSshConfig } from '../../../src/provision/modes.js';

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

describe('install modes', () => {
  it('parses vagrant ssh-config (several machines, quoted paths)', () => {
    expect(parseSshConfig(VAGRANT)).to.deep.equal([
      { name: 'default', host: '127.0.0.1', port: 2222, user: 'vagrant', ignoreHostKey: true, identityFile: '/home/me/proj/.vagrant/machines/default/virtualbox/private_key' },
      { name: 'docker', host: '172.17.0.5', port: 22, user: 'root', ignoreHostKey: false, identityFile: '/tmp/key one' },
    ]);
  });

  it('parses key=value forms and skips hosts without HostName', () => {
    expect(parseSshConfig('Host a\nHostName=10.0.0.1\nPort=2200\nHost b\nUser x\n')).to.deep.equal([
      { name: 'a', host: '10.0.0.1', port: 2200, user: 'root', ignoreHostKey: false },
    ]);
  });

  const f = { platform: 'linux' as NodeJS.Platform, commands: [] as string[], dockerRuns: true, hasHost: false };
  it('detects: --host → ssh; Linux with docker → standalone; macOS → vagrant, else a docker VM tool', () => {
    expect(detectMode({ ...f, hasHost: true }).mode).to.equal('ssh');
    expect(detectMode(f)).to.deep.include({ mode: 'standalone' });
    expect(detectMode({ ...f, dockerRuns: false }).why).to.match(/installs and starts it/);
    expect(detectMode({ ...f, platform: 'darwin', commands: ['vagrant', 'colima'] }).mode).to.equal('vagrant');
    const b = detectMode({ ...f, platform: 'darwin', commands: ['colima'] });
    expect(b.mode).to.equal('boot2docker');
    expect(b.why).to.include('colima');
  });

  it('says what to install on macOS with neither vagrant nor a VM tool', () => {
    expect(() => detectMode({ ...f, platform: 'darwin' })).to.throw(PaasboxError, /no vagrant/);
  });

  it('rejects an unknown --mode naming the choices', () => {
    expect(() => parseMode('kubernetes')).to.throw(PaasboxError, /"kubernetes".*standalone, ssh, vagrant, boot2docker/);
  });
});
