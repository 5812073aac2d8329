/**
 * mqtt-packet, the parser and writer under aedes, calls the `debug` package
 * some thirty times per packet. A disabled `debug` logger returns at once,
 * but only after its rest parameter has built an array of the call's
 * arguments: about 2.7 KB of garbage per message, an eighth of everything
 * the gateway allocates (docs/benchmark.md). This module is imported before
 * aedes, so mqtt-packet's loggers come from here: a namespace that `DEBUG`
 * enables when the process starts keeps the real logger, the others get a
 * function that takes no rest parameter and does nothing. Turning a
 * namespace on later (`debug.enable()` at run time) does not reach
 * mqtt-packet; restart with `DEBUG=mqtt-packet:*` instead.
 */
import { createRequire } from 'node:module';

interface DebugLogger {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  extend(suffix: string, delimiter?: string): DebugLogger;
}
type CreateDebug = ((namespace: string) => DebugLogger) & Record<string | symbol, unknown>;

const QUIET = Symbol.for('thingiq.quietDebug');
const quietened: string[] = [];

/** The namespaces handed a do-nothing logger so far (for diagnosis and tests). */
export function quietNamespaces(): readonly string[] {
  return quietened;
}

function quietLogger(namespace: string): DebugLogger {
  const logger = function quiet(): void {} as unknown as DebugLogger;
  logger.enabled = false;
  logger.namespace = namespace;
  logger.extend = (suffix, delimiter = ':') => quietLogger(`${namespace}${delimiter}${suffix}`);
  return logger;
}

/** Replaces, in the module cache, the `debug` that mqtt-packet resolves to; returns whether it did. */
export function quietenPacketDebug(): boolean {
  const fromHere = createRequire(import.meta.url);
  const fromPacket = createRequire(fromHere.resolve('mqtt-packet'));
  const path = fromPacket.resolve('debug');
  const createDebug = fromPacket('debug') as CreateDebug;
  const cached = fromPacket.cache[path];
  if (!cached || createDebug[QUIET] === true) return false;
  const quiet = ((namespace: string): DebugLogger => {
    const real = createDebug(namespace);
    if (real.enabled) return real;
    quietened.push(namespace);
    return quietLogger(namespace);
  }) as CreateDebug;
  Object.assign(quiet, createDebug, { [QUIET]: true });
  cached.exports = quiet;
  return true;
}

quietenPacketDebug();
