/**
 * The gateway for the admin-pressure benchmark, in its own process: reports
 * its MQTT and admin ports, and its event-loop delay per phase (the measure
 * of "admin work must not hold the event loop").
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/gateway/gateway.ts';
import { createLogger } from '../src/log.ts';

type Request = { kind: 'start'; config: unknown; baseDir: string } | { kind: 'loop-reset' } | { kind: 'loop-read' } | { kind: 'stop' };

let gateway: Gateway | undefined;
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const send = (m: Record<string, unknown>): void => { process.send?.(m); };

process.on('message', (m) => {
  const req = m as Request;
  void (async () => {
    try {
      if (req.kind === 'start') {
        const config = parseConfig(req.config, '(bench)');
        gateway = await Gateway.start({ config, baseDir: req.baseDir, logger: createLogger(config.log.level, process.stderr), mqttPort: 0 });
        send({ kind: 'ready', mqttPort: gateway.mqttPort, ...gateway.adminPorts });
      } else if (req.kind === 'loop-reset') {
        loop.reset();
        send({ kind: 'loop-reset' });
      } else if (req.kind === 'loop-read') {
        const ms = (ns: number) => Math.round(ns / 1e4) / 100;
        send({ kind: 'loop-read', p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) });
      } else {
        await gateway?.close();
        send({ kind: 'stopped' });
        process.exit(0);
      }
    } catch (err) {
      send({ kind: 'error', message: (err as Error).message });
    }
  })();
});
