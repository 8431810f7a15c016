// The steps that need this machine's files: the port pre-flight, images, the
// compose file, compose up and waiting for health. Each has a check that is
// true on a converged host, so a second run reports all ok.

import { StackControl } from '../compose/index.js';
import { APPLIED_PATH, COMPOSE_PATH } from '../stackfile/deployment.js';
import { isReady, parseInspect, type ServiceStatus } from '../compose/status.js';
import { composeFilter } from '../docker/compose.js';
import { imagesCommand, imageIdsOf, parseImages } from '../docker/facts.js';
import type { ExecResult } from '../target/target.js';
import { describePush } from '../images/push.js';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import type { StackPlan } from './plan.js';
import { conflictsFromPortsOutput, portsCommand } from './ports.js';
import { pushImages } from '../images/push.js';
import { LocalTarget } from '../target/local.js';
import { asRoot } from '../target/sudo.js';
import { imageIds } from './image-ids.js';
import { sh, type ProvisionStep } from './runner.js';

/** Fails (never changes anything) when a stack port is held by a process that is not this stack's. */
export function portsPreflightStep(plan: StackPlan): ProvisionStep {
  return {
    name: 'pre-flight: stack ports free',
    gate: true,
    probe: portsCommand(plan.project),
    async check(t: Target, probed) {
      const r = probed ?? (await t.exec(portsCommand(plan.project), { sudo: true, timeoutMs: 60_000 }));
      if (r.code === 3) return { ok: true, detail: 'no ss on the target: port check skipped' };
      const conflicts = conflictsFromPortsOutput(r.stdout, plan.ports);
      const host = t.address;
      if (conflicts.length) {
        const [c] = conflicts;
        throw new PaasboxError(
          `port ${c!.port}/${c!.protocol} on ${host} is taken by ${c!.holder}` +
            (conflicts.length > 1
              ? ` (also: ${conflicts
                  .slice(1)
                  .map((x) => `${x.port}/${x.protocol} by ${x.holder}`)
                  .join(', ')})`
              : '') +
            `; paasbox's ${c!.service} needs it`,
          `stop ${c!.holder.replace(/ \(.*/, '')} on ${host} (ss -ltnup | grep :${c!.port}), or move ${c!.service} to another port in paasbox.yaml (services.${c!.service}.ports)`,
        );
      }
      return { ok: true, detail: `${plan.ports.length} ports free or held by this stack` };
    },
    async apply() {
      /* check throws or is ok */
    },
  };
}

export function imagesStep(plan: StackPlan): ProvisionStep {
  const diff = async (t: Target, probed?: ExecResult) => {
    // This machine's ids were read while planning; only the target is asked again.
    const here = plan.localIds;
    const there = planIdsServe(plan)
      ? here
      : probed?.code === 0
        ? imageIdsOf(parseImages(probed.stdout), plan.images)
        : await imageIds(t, plan.images);
    // Built on the target: what is here (perhaps older) is never sent over it.
    const push = plan.imagesBuiltOnTarget ? [] : plan.images.filter((r) => here[r] && here[r] !== there[r]);
    const pull = plan.images.filter((r) => !here[r] && !there[r]);
    return { push, pull };
  };
  return {
    name: 'images',
    fix: 'build the images here (npx zx scripts/build-images.mjs), or use --source registry on a target that can pull',
    ...(planIdsServe(plan) ? {} : { probe: imagesCommand(plan.images) }),
    async check(t, probed) {
      const { push, pull } = await diff(t, probed);
      if (!push.length && !pull.length) return { ok: true, detail: `${plan.images.length} images present` };
      return {
        ok: false,
        detail: [
          push.length ? `to send: ${push.join(' ')}` : '',
          pull.length ? `to pull: ${pull.join(' ')}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      };
    },
    async apply(t) {
      const { push, pull } = await diff(t);
      for (const ref of pull)
        await sh(t, `docker pull ${shq(ref)}`, {
          fix: `the target cannot pull ${ref}: docker load it there, or build/pull it here and run again`,
        });
      // pushImages runs docker without sudo; a non-root login needs it.
      const sent = push.length ? await pushImages(new LocalTarget(), asRoot(t), push) : undefined;
      return [
        sent ? `sent ${push.length}: ${describePush(sent)}` : '',
        pull.length ? `pulled ${pull.length}` : '',
      ]
        .filter(Boolean)
        .join(', ');
    },
  };
}

export function stackFileStep(plan: StackPlan): ProvisionStep {
  return {
    name: `stack file ${COMPOSE_PATH}`,
    probe: STACK_FILE_PROBE,
    async check(t, probed) {
      const r = probed ?? (await t.exec(STACK_FILE_PROBE, { sudo: true }));
      return r.stdout.trim() === plan.composeHash
        ? { ok: true }
        : { ok: false, detail: r.stdout.trim() ? 'content differs' : 'absent' };
    },
    async apply(t) {
      await t.writeFile(COMPOSE_PATH, plan.composeText, 0o644);
    },
  };
}

const STACK_FILE_PROBE = `sha256sum ${COMPOSE_PATH} 2>/dev/null | cut -d' ' -f1`;

/**
 * What the compose-up and healthy checks read, in one command: the hash the
 * last up applied, the project's containers (docker inspect), and the image
 * ids of the plan's refs. The services come from the plan (the file on the
 * target is the plan's when the stack-file step is ok), so no compose
 * process (a python start for v1) is needed to check.
 */
export function stackProbe(plan: Pick<StackPlan, 'project' | 'images' | 'imagesHere' | 'localIds'>): string {
  return [
    `cat ${APPLIED_PATH} 2>/dev/null; echo ${SECTION}`,
    `ids=$(docker ps -aq ${composeFilter(plan.project)}) || exit 1; if [ -n "$ids" ]; then docker inspect $ids || true; else echo '[]'; fi; echo ${SECTION}`,
    // On this machine the plan read them moments ago (each docker CLI start costs ~50 ms of CPU).
    planIdsServe(plan) ? 'true' : imagesCommand(plan.images),
  ].join('\n');
}

/**
 * The plan's reading of this machine's images stands for the target's when
 * the target is this machine and has them all: one to pull is asked live
 * (after its pull too, so it is then found).
 */
const planIdsServe = (plan: Pick<StackPlan, 'images' | 'imagesHere' | 'localIds'>): boolean =>
  !!plan.imagesHere && plan.images.every((r) => plan.localIds[r]);

/** The plan's own reading of the images, as the target's (when planIdsServe). */
const planIds = (plan: Pick<StackPlan, 'images' | 'localIds'>): Record<string, string> =>
  Object.fromEntries(plan.images.map((r) => [r, plan.localIds[r]!]));
const SECTION = '@@paasbox-section';

interface StackFacts {
  applied: string;
  status: ServiceStatus[];
  /** The plan's image ids on the target; undefined: not read (the live path reads them when needed). */
  ids?: Record<string, string>;
}

/** stackProbe's output (pure); undefined when it is not whole (the check then asks live). */
export function parseStackProbe(
  plan: Pick<StackPlan, 'compose' | 'images' | 'imagesHere' | 'localIds'>,
  r: ExecResult,
): StackFacts | undefined {
  const parts = r.stdout.split(`${SECTION}\n`);
  if (r.code !== 0 || parts.length !== 3) return undefined;
  const inspect = parts[1]!.trim();
  if (!inspect.startsWith('[')) return undefined;
  return {
    applied: parts[0]!.trim(),
    status: parseInspect(inspect, Object.keys(plan.compose.services)),
    ids: planIdsServe(plan) ? planIds(plan) : imageIdsOf(parseImages(parts[2]!), plan.images),
  };
}

async function stackFacts(
  t: Target,
  plan: StackPlan,
  ctl: StackControl,
  probed?: ExecResult,
): Promise<StackFacts> {
  const fromProbe = probed && parseStackProbe(plan, probed);
  if (fromProbe) return fromProbe;
  const applied = (await t.exec(`cat ${APPLIED_PATH} 2>/dev/null`, { sudo: true })).stdout.trim();
  return {
    applied,
    status: await ctl.statusOf(Object.keys(plan.compose.services)),
    ...(planIdsServe(plan) ? { ids: planIds(plan) } : {}),
  };
}

export function startStep(plan: StackPlan, ctl: StackControl): ProvisionStep {
  return {
    name: `compose up (${plan.project})`,
    probe: stackProbe(plan),
    async check(t, probed) {
      const facts = await stackFacts(t, plan, ctl, probed);
      const { applied, status: st } = facts;
      const down = st.filter((s) => s.state !== 'running');
      if (applied !== plan.composeHash)
        return { ok: false, detail: applied ? 'compose file changed since last up' : 'never started' };
      if (down.length)
        return { ok: false, detail: `not running: ${down.map((s) => `${s.service}(${s.state})`).join(' ')}` };
      // A rebuilt image keeps its tag; the container still runs the old id until compose recreates it.
      const ids = facts.ids ?? (await imageIds(t, plan.images));
      const stale = st.filter((s) => {
        const ref = plan.compose.services[s.service]?.image;
        return !!s.imageId && !!ref && !!ids[ref] && ids[ref] !== s.imageId;
      });
      if (stale.length)
        return { ok: false, detail: `image changed: ${stale.map((s) => s.service).join(' ')}` };
      return { ok: true, detail: `${st.length} services running` };
    },
    async apply(t) {
      await ctl.up();
      await t.writeFile(APPLIED_PATH, `${plan.composeHash}\n`);
    },
  };
}

export function healthyStep(
  plan: StackPlan,
  ctl: StackControl,
  timeoutMs: number,
  progress?: Progress,
): ProvisionStep {
  return {
    name: 'stack healthy',
    probe: stackProbe(plan),
    async check(t, probed) {
      const st = (await stackFacts(t, plan, ctl, probed)).status;
      const waiting = st.filter((s) => !isReady(s));
      return waiting.length
        ? {
            ok: false,
            detail: `waiting: ${waiting.map((s) => `${s.service}(${s.state}/${s.health})`).join(' ')}`,
          }
        : { ok: true, detail: `${st.length} services ready` };
    },
    async apply() {
      await ctl.waitHealthy(timeoutMs, progress);
    },
  };
}
