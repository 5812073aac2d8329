/**
 * The CLI's connection to the control store: the same store the gateway
 * uses (configured by `controlStore:`), opened for one command. What the
 * command writes reaches a running gateway through the store's change feed.
 * The first open also imports the files older versions kept, as a gateway
 * start would.
 */
import { resolve } from 'node:path';
import type { GatewayConfig } from '../config/schema.ts';
import type { ControlStore } from '../control/control-store.ts';
import { openGatewayControlStore } from '../gateway/gateway-control.ts';
import { createLogger } from '../log.ts';

export async function withControlStore<T>(config: GatewayConfig, work: (store: ControlStore) => Promise<T>): Promise<T> {
  const store = await openGatewayControlStore(config, (p) => resolve(p), createLogger('info', process.stderr));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
