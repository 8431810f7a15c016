// Setup for the orchestration integration test: the benchmarks' swarm lab
// (src/bench/orchestration.ts: two docker-in-docker hosts in a swarm, the
// discovery part of the stack on h1), with its image builds reported under
// the spec's output as spec/helpers/images.ts reports them.
// A stand-in kept on purpose: this spec's claim is about deploy.mjs and the
// swarm scheduler (an app JSON deployed, then found by name), not about the
// stack; the lab starts the generated compose file's discovery services with
// `docker run` (the test hosts have no compose tool), as the benchmark does,
// so the spec tests the lab the figures come from.
import { createSwarmLab as createLab, type SwarmLab } from '../../src/bench/orchestration.js';
import { repoPath } from '../../src/paths.js';
import { imagesProgress } from '../helpers/images.js';

export type { SwarmLab };

/** The repository root (scripts run from there). */
export const repo = repoPath();

export function createSwarmLab(prefix = 'pbh6-orch'): Promise<SwarmLab> {
  return createLab(prefix, imagesProgress());
}
