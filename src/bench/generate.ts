// The "generate" benchmark: the cost of one stack file generation (settings
// resolution + image refs + generate + schema validation + render), warm.
import { loadStackModel } from '../model/load.js';
import { generateCompose, renderCompose } from '../stackfile/generate.js';
import { resolveImageRefs } from '../stackfile/refs.js';
import { resolveSettings } from '../settings/settings.js';

export async function benchGenerate(
  iterations = 200,
): Promise<{ iterations: number; msPerGeneration: number; bytes: number }> {
  const model = loadStackModel();
  let bytes = 0;
  const run = async () => {
    const s = resolveSettings(
      { env: { PAASBOX_HOSTNAME: 'paasbox', PAASBOX_IP: '10.11.12.13', PAASBOX_SOURCE: 'registry' } },
      model,
    );
    bytes = renderCompose(generateCompose(model, s, await resolveImageRefs(model, s, () => false))).length;
  };
  await run(); // compile the schemas once
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await run();
  return { iterations, msPerGeneration: (performance.now() - t0) / iterations, bytes };
}
