// `paasbox info`'s lines from the model and a deployment (pure): the logins
// say where the secret is and how to show it, never the secret itself.
import { expect } from 'chai';
import { formatInfo, infoLines } from '../../src/cli/info.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { parseDeployment } from '../../src/stackfile/deployment.js';
import { generateCompose, renderCompose } from '../../src/stackfile/generate.js';
import { loadStackModel } from '../../src/model/load.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';

describe('paasbox info', () => {
  const model = loadStackModel();
  const settings = resolveSettings(
    {
      defaults: { hostname: 'h1', ip: '10.0.0.5' },
      file: { services: { haproxy: { ports: { stats: 8181 } } } },
    },
    model,
  );

  it("says how to log in to Consul's UI and HAProxy's stats: this machine's copy when it has one, else the target's files", async () => {
    const deployment = parseDeployment(
      renderCompose(generateCompose(model, settings, await resolveImageRefs(model, settings, () => false))),
    )!;
    const here = infoLines(
      model,
      settings,
      deployment,
      'root@h1:22',
      '/home/u/proj/.paasbox/secrets/default',
    );
    expect(here.logins).to.deep.equal([
      {
        service: 'consul',
        login:
          'UI http://10.0.0.5:8500/ui/ reads services and nodes without a login; to change anything (K/V, ACLs), "Log in" with the management token',
        show: 'cat /home/u/proj/.paasbox/secrets/default/consul-management-token',
      },
      {
        service: 'haproxy',
        login: 'stats http://10.0.0.5:8181/: user admin, its password',
        show: 'cut -d: -f2- /home/u/proj/.paasbox/secrets/default/haproxy/stats-auth',
      },
    ]);
    const there = infoLines(model, settings, deployment, 'root@h1:22');
    expect(there.logins.map((l) => l.show)).to.deep.equal([
      'on root@h1:22: sudo cat /opt/paasbox/secrets/consul-management-token',
      'on root@h1:22: sudo cut -d: -f2- /opt/paasbox/secrets/haproxy/stats-auth',
    ]);
    expect(formatInfo(here)).to.match(
      /\nLogins \(.*\):\n {2}consul UI http:\/\/10\.0\.0\.5:8500\/ui\/ .*:\n {4}cat \/home\/u\/proj\/\.paasbox\/secrets\/default\/consul-management-token\n/,
    );
  });

  it("names the stack CA's file and how to trust it on Debian/Ubuntu, macOS and Firefox", async () => {
    const deployment = parseDeployment(
      renderCompose(generateCompose(model, settings, await resolveImageRefs(model, settings, () => false))),
    )!;
    const dir = '/home/u/proj/.paasbox/secrets/default';
    const here = infoLines(model, settings, deployment, 'root@h1:22', dir);
    const ca = `${dir}/haproxy/tls/ca.pem`;
    expect(here.https?.ca).to.equal(ca);
    expect(here.https?.trust.map((t) => t.where)).to.deep.equal(['Debian/Ubuntu', 'macOS', 'Firefox']);
    expect(here.https?.trust[0]?.how).to.include(`sudo cp ${ca} /usr/local/share/ca-certificates/`);
    expect(here.https?.trust[0]?.how).to.include('update-ca-certificates');
    expect(here.https?.trust[1]?.how).to.include('security add-trusted-cert');
    expect(here.try).to.include(
      `curl --cacert ${ca} --resolve python1.service.consul:443:10.0.0.5 https://python1.service.consul/`,
    );
    expect(formatInfo(here)).to.include("HTTPS (:443, every host): certificates from the stack's own CA");
    // No copy here: the target's file, and no trust steps to run on this machine.
    const there = infoLines(model, settings, deployment, 'root@h1:22');
    expect(there.https).to.deep.equal({
      ca: '/opt/paasbox/secrets/haproxy/tls/ca.pem on root@h1:22',
      trust: [],
    });
  });
});
