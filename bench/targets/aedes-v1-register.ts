/**
 * In a bench target started as `aedes1` or `gateway-aedes1` (BENCH_AEDES_V1=1),
 * every later `import 'aedes'` of the main thread resolves to the `aedes-v1`
 * alias (devDependency `aedes-v1@npm:aedes@1.2.0`), so bare aedes and the
 * gateway run unchanged on the previous major for the comparison
 * (docs/mqtt5.md). Registered from the target, not with --import, so that
 * worker threads (the SQLite writer) are not given the hook.
 */
import { register } from 'node:module';

export function useAedesV1IfAsked(): void {
  if (process.env['BENCH_AEDES_V1'] === '1') register(new URL('./aedes-v1-hooks.mjs', import.meta.url));
}
