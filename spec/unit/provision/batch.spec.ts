import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aclProbeCommand, parseAclProbe } from '../../../src/consul/acl.js';
import { Progress } from '../../../src/progress.js';
import { parseProbeOutput, probeScript, type Probe } from '../../../src/provision/probe.js';
import { runSteps, type ProvisionStep } from '../../../src/provision/runner.js';
import { shellCheckProbe } from '../../../src/provision/shell-step.js';
import { imagesStep, parseStackProbe, stackProbe } from '../../../src/provision/steps.js';
import { LocalTarget } from '../../../src/target/local.js';
import { shq } from '../../../src/target/shell.js';
import type { ExecOptions, ExecResult, Target } from '../../../src/target/target.js';
import { AnsweringTarget } from '../../helpers/answering-target.js';

const quiet = () => new Progress({ write: () => undefined });

/** This machine, counting execs (each one is a round trip over SSH). */
class CountingTarget extends LocalTarget {
  execs: string[] = [];
  override exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    this.execs.push(command);
    return super.exec(command, { ...opts, sudo: false });
  }
}

describe('batched checks', () => {
  describe('probe script (run by a real sh)', () => {
    it('gives each probe its own stdout, stderr and exit code, byte for byte', async () => {
      const probes: Probe[] = [
        { id: 'a', command: 'printf "no newline"' },
        { id: 'b', command: 'echo out; echo err >&2; exit 3' },
        { id: 'c', command: `cat <<'EOF'\n@@ looks like a marker\nEOF` },
        { id: 'd', command: 'printf "two\\n\\nlines\\n"; false' },
        { id: 'e', command: 'cat' }, // stdin is /dev/null: never eats the script
      ];
      const nonce = 'abc123';
      const r = await new LocalTarget().exec('sh -s', { stdin: probeScript(probes, nonce) });
      const out = parseProbeOutput(probes, nonce, r.stdout);
      expect(Object.fromEntries(out)).to.deep.equal({
        a: { code: 0, stdout: 'no newline', stderr: '' },
        b: { code: 3, stdout: 'out\n', stderr: 'err\n' },
        c: { code: 0, stdout: '@@ looks like a marker\n', stderr: '' },
        d: { code: 1, stdout: 'two\n\nlines\n', stderr: '' },
        e: { code: 0, stdout: '', stderr: '' },
      });
    });

    it('leaves out a probe whose section was cut short (its check then asks live)', () => {
      const probes: Probe[] = [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'true' },
      ];
      const cut = '@@n 0 out\nx\n@@n 0 err 0\n\n@@n 0 end\n@@n 1 out\npartial';
      expect([...parseProbeOutput(probes, 'n', cut).keys()]).to.deep.equal(['a']);
    });

    it('runs a step script as a here-document, with its env', async () => {
      const probe = shellCheckProbe('echo "$GREETING"; exit 1\n', { GREETING: "it's me" });
      const r = await new LocalTarget().exec(probe);
      expect(r).to.deep.include({ code: 1, stdout: "it's me\n" });
      expect(() => shellCheckProbe('PAASBOX_STEP_SCRIPT_EOF\n')).to.throw(/contains/);
    });
  });

  describe('runner', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pb-batch-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** A step wanting FILE to hold WANT: its probe and its live check read the file on the target. */
    const fileStep = (name: string, want: string, live: { n: number }): ProvisionStep => {
      const path = join(dir, name);
      const probe = `cat ${shq(path)} 2>/dev/null`;
      return {
        name,
        probe,
        async check(t, probed) {
          if (!probed) live.n++;
          const r = probed ?? (await t.exec(probe));
          return r.stdout === want ? { ok: true } : { ok: false, detail: r.stdout ? 'differs' : 'absent' };
        },
        async apply() {
          writeFileSync(path, want);
        },
      };
    };

    it('checks a converged host in one exec, and finds a changed input changed', async () => {
      const live = { n: 0 };
      const steps = () => [fileStep('a', 'A', live), fileStep('b', 'B', live), fileStep('c', 'C', live)];
      const t = new CountingTarget();
      const first = await runSteps(t, steps(), quiet());
      expect(first.steps.map((s) => s.status)).to.deep.equal(['changed', 'changed', 'changed']);

      // Nothing changed: one exec for every check, all ok.
      t.execs = [];
      live.n = 0;
      const noop = await runSteps(t, steps(), quiet());
      expect(noop.steps.map((s) => s.status)).to.deep.equal(['ok', 'ok', 'ok']);
      expect(t.execs).to.have.length(1);
      expect(live.n).to.equal(0);

      // One input changed on the host: that step is changed; the steps after
      // it check live (the batch said how the host was before the change).
      writeFileSync(join(dir, 'b'), 'tampered');
      t.execs = [];
      const again = await runSteps(t, steps(), quiet());
      expect(again.steps.map((s) => `${s.step}:${s.status}`)).to.deep.equal(['a:ok', 'b:changed', 'c:ok']);
      expect(readFileSync(join(dir, 'b'), 'utf8')).to.equal('B');
      expect(live.n).to.equal(2); // b's check after apply, and c's
    });

    it('runs a probe two steps share once, and gives both its result', async () => {
      const live = { n: 0 };
      writeFileSync(join(dir, 'a'), 'A');
      const t = new CountingTarget();
      const stdins: string[] = [];
      const spy = Object.assign(t, {
        exec: (c: string, o?: ExecOptions) => {
          if (typeof o?.stdin === 'string') stdins.push(o.stdin);
          return LocalTarget.prototype.exec.call(t, c, { ...o, sudo: false });
        },
      }) as Target;
      const r = await runSteps(
        spy,
        [fileStep('a', 'A', live), { ...fileStep('a', 'A', live), name: 'a again' }],
        quiet(),
      );
      expect(r.steps.map((s) => s.status)).to.deep.equal(['ok', 'ok']);
      expect(live.n).to.equal(0);
      expect(stdins[0]!.split(`cat ${shq(join(dir, 'a'))}`)).to.have.length(2);
    });

    it('falls back to live checks when the batch cannot run', async () => {
      const live = { n: 0 };
      writeFileSync(join(dir, 'a'), 'A');
      const t = new CountingTarget();
      const broken = Object.assign(t, {
        exec: (c: string, o?: ExecOptions) =>
          c === 'sh -s'
            ? Promise.reject(new Error('channel refused'))
            : LocalTarget.prototype.exec.call(t, c, { ...o, sudo: false }),
      }) as Target;
      const r = await runSteps(broken, [fileStep('a', 'A', live)], quiet());
      expect(r.steps.map((s) => s.status)).to.deep.equal(['ok']);
      expect(live.n).to.equal(1);
    });

    it('a dry run keeps the batch results for every step (nothing changes)', async () => {
      const live = { n: 0 };
      const t = new CountingTarget();
      const r = await runSteps(t, [fileStep('a', 'A', live), fileStep('b', 'B', live)], quiet(), {
        checkOnly: true,
      });
      expect(r.steps.map((s) => s.status)).to.deep.equal(['skipped', 'skipped']);
      expect(t.execs).to.have.length(1);
      expect(live.n).to.equal(0);
    });
  });

  describe('stack probe', () => {
    const plan = {
      project: 'paasbox',
      images: ['paasbox/consul:local'],
      compose: { services: { consul: {}, dns: {} } },
    } as unknown as Parameters<typeof parseStackProbe>[0] & Parameters<typeof stackProbe>[0];

    it('reads the applied hash, containers and image ids from one command', () => {
      const cmd = stackProbe(plan);
      expect(cmd)
        .to.include('/opt/paasbox/.applied')
        .and.include('--filter label=com.docker.compose.project=paasbox')
        .and.not.include('docker-compose');
      const inspect = JSON.stringify([
        {
          Id: 'c1',
          Name: '/paasbox_consul_1',
          Image: 'sha256:img1',
          Config: { Labels: { 'com.docker.compose.service': 'consul' } },
          State: { Status: 'running', Health: { Status: 'healthy', Log: [] } },
          HostConfig: { RestartPolicy: { Name: 'always' } },
          RestartCount: 0,
        },
      ]);
      const stdout = `hash1\n@@paasbox-section\n${inspect}\n@@paasbox-section\npaasbox/consul:local\tsha256:img1\tnull\n`;
      const facts = parseStackProbe(plan, { code: 0, stdout, stderr: '' })!;
      expect(facts.applied).to.equal('hash1');
      expect(facts.status.map((s) => `${s.service}:${s.state}/${s.health}`)).to.deep.equal([
        'consul:running/healthy',
        'dns:missing/none',
      ]);
      expect(facts.ids).to.deep.equal({ 'paasbox/consul:local': 'sha256:img1' });
    });

    it("on this machine, the plan's own image ids stand in for a second reading", () => {
      const here = { ...plan, imagesHere: true, localIds: { 'paasbox/consul:local': 'sha256:new' } };
      const cmd = stackProbe(here);
      expect(cmd).to.not.include('docker image inspect');
      const facts = parseStackProbe(here, {
        code: 0,
        stdout: 'hash1\n@@paasbox-section\n[]\n@@paasbox-section\n',
        stderr: '',
      })!;
      // A container on sha256:img1 is then found stale against the plan's sha256:new.
      expect(facts.ids).to.deep.equal({ 'paasbox/consul:local': 'sha256:new' });
      expect(stackProbe(plan)).to.include('docker image inspect');
      // One not here (to pull): read from the target after all.
      expect(stackProbe({ ...here, localIds: { 'paasbox/consul:local': '' } })).to.include(
        'docker image inspect',
      );
    });

    it("the images step on this machine: the plan's reading while it has them all, a live one when one is to pull", async () => {
      const have = {
        images: ['img/a:1'],
        imagesHere: true,
        localIds: { 'img/a:1': 'sha256:1' },
      } as unknown as Parameters<typeof imagesStep>[0];
      expect(imagesStep(have).probe).to.equal(undefined);
      const t = new AnsweringTarget('local', '127.0.0.1', () => ({ stdout: '' }));
      expect((await imagesStep(have).check(t)).ok).to.equal(true);
      expect(t.ran).to.deep.equal([]);
      // Missing here: asked live (as after its pull), so a pulled image is then found.
      const lacking = {
        ...have,
        images: ['img/a:1', 'img/b:1'],
        localIds: { 'img/a:1': 'sha256:1', 'img/b:1': '' },
      } as unknown as Parameters<typeof imagesStep>[0];
      let pulled = false;
      const t2 = new AnsweringTarget('local', '127.0.0.1', () => ({
        stdout: `img/a:1\tsha256:1\tnull\n${pulled ? 'img/b:1\tsha256:2\tnull\n' : 'img/b:1\t\n'}`,
      }));
      expect(await imagesStep(lacking).check(t2)).to.deep.equal({ ok: false, detail: 'to pull: img/b:1' });
      pulled = true;
      expect((await imagesStep(lacking).check(t2)).ok).to.equal(true);
      expect(t2.ran).to.have.length(2);
    });

    it('is not trusted when cut short or failed', () => {
      expect(parseStackProbe(plan, { code: 0, stdout: 'hash1\n@@paasbox-section\n', stderr: '' })).to.equal(
        undefined,
      );
      expect(
        parseStackProbe(plan, {
          code: 1,
          stdout: 'x\n@@paasbox-section\n[]\n@@paasbox-section\n',
          stderr: '',
        }),
      ).to.equal(undefined);
    });
  });

  describe('consul ACL probe', () => {
    it('reads the token from its file (never in argv) and keeps only whole answers', () => {
      const cmd = aclProbeCommand('10.0.0.5', 8500, 'paasbox');
      expect(cmd)
        .to.include('/v1/acl/policies')
        .and.include('/opt/paasbox/secrets/')
        .and.include('-H @<(printf');
      const M = '\n__paasbox_http_status__=';
      const out = `@@tools curl docker\n@@consul abc\n\n@@acl /v1/acl/token/self\n{"AccessorID":"x"}${M}200\n@@acl-exit 0\n\n@@acl /v1/acl/policies\n[]${M}403\n@@acl-exit 0\n\n@@acl /v1/acl/tokens\n${M}000\n@@acl-exit 7\n`;
      const p = parseAclProbe(out)!;
      expect(p.tools).to.deep.equal({ curl: true, ss: false, docker: true });
      expect(p.consulRunning).to.equal(true);
      expect([...p.answers.keys()]).to.deep.equal(['/v1/acl/token/self']);
      expect(parseAclProbe('@@tools curl\n@@consul \n')!.consulRunning).to.equal(false);
      expect(parseAclProbe('garbage')).to.equal(undefined);
    });
  });
});
