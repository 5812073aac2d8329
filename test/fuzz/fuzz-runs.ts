/** Runs per property: small in `npm test`, FUZZ_RUNS (npm run fuzz) for the long run. */
export function fuzzRuns(defaultRuns: number, divisor = 1): number {
  const env = Number(process.env['FUZZ_RUNS']);
  return Number.isFinite(env) && env > 0 ? Math.max(1, Math.floor(env / divisor)) : defaultRuns;
}

/** Whether this is the long run (then timeouts are lifted). */
export const LONG_RUN = Number(process.env['FUZZ_RUNS']) > 0;
