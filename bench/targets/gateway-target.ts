/** The full ThingIQ gateway (Gateway.start) in its own process, on port 0, with the config run.ts made. */
import { parseConfig } from '../../src/config/load.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/log.ts';
import { serveTarget } from './target-messages.ts';

serveTarget(async (req) => {
  if (req.kind !== 'start-gateway') throw new Error(`gateway target cannot ${req.kind}`);
  const config = parseConfig(req.config, '(bench)');
  const gateway = await Gateway.start({ config, baseDir: req.baseDir, logger: createLogger(config.log.level, process.stderr), mqttPort: 0 });
  return { port: gateway.mqttPort, stop: () => gateway.close() };
});
