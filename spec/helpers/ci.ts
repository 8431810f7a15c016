// One definition of "this run is CI" for every spec guard: .ci/run exports CI=true, and with it
// a spec that cannot run throws instead of skipping. Only the exact value 'true' counts, as in
// .mocharc.cjs (forbidPending), so CI=1 or CI=false do not switch half of the guards.

export const isCI = (env: NodeJS.ProcessEnv = process.env): boolean => env['CI'] === 'true';
