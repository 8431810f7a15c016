import { expect } from 'chai';
import { PaasboxError } from '../../../src/errors.js';
import { Progress } from '../../../src/progress.js';
import { CommandFailure, runSteps, StepFailure, type ProvisionStep } from '../../../src/provision/runner.js';
import type { Target } from '../../../src/target/target.js';

const target = { name: 'root@h:22' } as unknown as Target;
const quiet = () => new Progress({ write: () => undefined });

function flagStep(name: string, state: { done: boolean; applied: number }): ProvisionStep {
  return {
    name,
    check: async () => (state.done ? { ok: true } : { ok: false, detail: 'missing' }),
    apply: async () => {
      state.applied++;
      state.done = true;
    },
  };
}

describe('provisioning runner', () => {
  it('applies only what check says is missing, then reports all ok on a second run', async () => {
    const a = { done: true, applied: 0 };
    const b = { done: false, applied: 0 };
    const p1 = quiet();
    const r1 = await runSteps(target, [flagStep('a', a), flagStep('b', b)], p1);
    expect(r1.steps.map((s) => `${s.step}:${s.status}`)).to.deep.equal(['a:ok', 'b:changed']);
    const r2 = await runSteps(target, [flagStep('a', a), flagStep('b', b)], quiet());
    expect(r2.steps.map((s) => s.status)).to.deep.equal(['ok', 'ok']);
    expect([a.applied, b.applied]).to.deep.equal([0, 1]);
  });

  it('stops at the first failure with the step, host, command and stderr tail', async () => {
    const later = { done: false, applied: 0 };
    const failing: ProvisionStep = {
      name: 'docker engine',
      check: async () => ({ ok: false }),
      apply: async () => {
        throw new CommandFailure(
          'apt-get install docker.io',
          100,
          'line1\nE: Unable to locate package docker.io',
          'check apt',
        );
      },
    };
    const p = quiet();
    let err: unknown;
    try {
      await runSteps(target, [failing, flagStep('later', later)], p);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(PaasboxError);
    const e = err as PaasboxError;
    expect(e.problem).to.equal(
      'step "docker engine" failed on root@h:22: `apt-get install docker.io` exited 100',
    );
    expect(e.fix).to.equal('check apt');
    expect(e.detail).to.include('Unable to locate package');
    expect(later.applied).to.equal(0);
    expect(p.summary().failed).to.equal(1);
  });

  it('fails a step whose apply does not make its check pass', async () => {
    const stubborn: ProvisionStep = {
      name: 's',
      check: async () => ({ ok: false, detail: 'still broken' }),
      apply: async () => undefined,
    };
    let err: unknown;
    try {
      await runSteps(target, [stubborn], quiet());
    } catch (e) {
      err = e;
    }
    expect((err as PaasboxError).problem).to.match(/did not converge: .*still broken/);
    expect(err).to.be.instanceOf(StepFailure);
    expect(err).to.include({ step: 's', host: 'root@h:22' });
    expect((err as PaasboxError).problem).to.not.match(/failed on/);
  });

  it('marks its errors with the step, not by what their text says', async () => {
    const run = async (step: ProvisionStep): Promise<StepFailure> => {
      try {
        await runSteps(target, [step], quiet());
      } catch (e) {
        return e as StepFailure;
      }
      throw new Error('runSteps did not fail');
    };
    // A plain error that happens to quote the step's name is still wrapped.
    const quoting = await run({
      name: 'images',
      check: async () => ({ ok: false }),
      apply: async () => {
        throw new PaasboxError('"images" missing on the registry', 'push them');
      },
    });
    expect(quoting).to.be.instanceOf(StepFailure);
    expect(quoting).to.include({
      step: 'images',
      host: 'root@h:22',
      problem: 'step "images" failed on root@h:22: "images" missing on the registry',
      fix: 'push them',
    });
    // One raised for another step (a nested run) is wrapped with this one.
    const nested = await run({
      name: 'outer',
      check: async () => ({ ok: false }),
      apply: async () => {
        throw new StepFailure('inner', 'root@h:22', 'step "inner" failed on root@h:22: x', 'fix inner');
      },
    });
    expect(nested).to.include({
      step: 'outer',
      problem: 'step "outer" failed on root@h:22: step "inner" failed on root@h:22: x',
      fix: 'fix inner',
    });
    // One already raised for this step and host passes through untouched.
    const own = new StepFailure('mine', 'root@h:22', 'my own words', 'my fix', 'tail');
    expect(
      await run({
        name: 'mine',
        check: async () => {
          throw own;
        },
        apply: async () => undefined,
      }),
    ).to.equal(own);
  });
});

describe('provisioning runner, dry run', () => {
  it('reports what would change as skipped and applies nothing; a gate still stops it', async () => {
    const a = { done: false, applied: 0 };
    const broken: ProvisionStep = {
      name: 'needs docker',
      check: async () => {
        throw new CommandFailure('docker ps', 127, 'docker: not found');
      },
      apply: async () => undefined,
    };
    const r = await runSteps(target, [flagStep('a', a), broken], quiet(), { checkOnly: true });
    expect(r.steps.map((s) => `${s.status}:${s.detail}`)).to.deep.equal([
      'skipped:would change: missing',
      'skipped:cannot check before earlier steps apply (`docker ps` exited 127)',
    ]);
    expect(a.applied).to.equal(0);
    const gate: ProvisionStep = {
      name: 'ports',
      gate: true,
      check: async () => {
        throw new PaasboxError('port 80 taken', 'stop it');
      },
      apply: async () => undefined,
    };
    let err: unknown;
    try {
      await runSteps(target, [gate], quiet(), { checkOnly: true });
    } catch (e) {
      err = e;
    }
    expect((err as PaasboxError).problem).to.match(/port 80 taken/);
  });
});
