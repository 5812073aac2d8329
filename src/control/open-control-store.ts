/** Opens the configured control store; the gateway and the CLI both start here. */
import { isAbsolute, join } from 'node:path';
import { TiqError } from '../errors.ts';
import { DEFAULT_CONTROL_STORE, type ControlStoreConfig } from '../config/control-config.ts';
import type { ControlStore, ControlStoreLogger } from './control-store.ts';
import { PostgresControlStore } from './postgres-control-store.ts';
import { SqliteControlStore } from './sqlite-control-store.ts';

export async function openControlStore(config: ControlStoreConfig | undefined, dataDir: string, logger?: ControlStoreLogger): Promise<ControlStore> {
  const c = config ?? DEFAULT_CONTROL_STORE;
  try {
    if (c.type === 'postgres') return await PostgresControlStore.open({ connectionString: c.connectionString, pollIntervalMs: c.pollIntervalMs, ...(logger ? { logger } : {}) });
    const path = isAbsolute(c.path) ? c.path : join(dataDir, c.path);
    return await SqliteControlStore.open({ path, ...(logger ? { logger } : {}) });
  } catch (err) {
    throw new TiqError('TIQ_ERR_CONTROL_STORE', `cannot open the ${c.type} control store: ${(err as Error).message}`, { cause: err });
  }
}
