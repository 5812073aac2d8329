/**
 * The full ThingIQ gateway (Gateway.start) in its own process, on port 0, with the config run.ts made.
 * It runs the compiled JavaScript in dist/, as `thingiq start` does (run.ts builds it first): no
 * TypeScript loader on the gateway's main thread or its SQLite writer thread, so the bench measures
 * what is deployed. BENCH_GATEWAY_FROM_SOURCE=1 runs src/ through tsx instead (diagnosis).
 */
import type * as GatewayModule from '../../src/gateway/gateway.ts';
import type * as LoadModule from '../../src/config/load.ts';
import type * as LogModule from '../../src/log.ts';
import { useAedesV1IfAsked } from './aedes-v1-register.ts';
import { serveTarget } from './target-messages.ts';

useAedesV1IfAsked();

const fromSource = process.env['BENCH_GATEWAY_FROM_SOURCE'] === '1';
const root = new URL(fromSource ? '../../src/' : '../../dist/', import.meta.url);
const ext = fromSource ? '.ts' : '.js';
const load = <T>(path: string): Promise<T> => import(new URL(`${path}${ext}`, root).href) as Promise<T>;

serveTarget(async (req) => {
  if (req.kind !== 'start-gateway') throw new Error(`gateway target cannot ${req.kind}`);
  const [{ parseConfig }, { Gateway }, { createLogger }] = await Promise.all([
    load<typeof LoadModule>('config/load'), load<typeof GatewayModule>('gateway/gateway'), load<typeof LogModule>('log'),
  ]);
  const config = parseConfig(req.config, '(bench)');
  const gateway = await Gateway.start({ config, baseDir: req.baseDir, logger: createLogger(config.log.level, process.stderr), mqttPort: 0 });
  return { port: gateway.mqttPort, stop: () => gateway.close() };
});
