/**
 * Opens the configured storage for a short-lived command (the CLI): the
 * sinks, the router, and the retention service over them.
 */
import { resolve } from 'node:path';
import { TiqError } from '../errors.ts';
import { loadConfig } from '../config/load.ts';
import type { ControlStore, ControlStoreLogger } from '../control/control-store.ts';
import { importSinkRetention } from '../control/legacy-import.ts';
import { openControlStore } from '../control/open-control-store.ts';
import { controlRetentionState } from '../control/retention-state.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { RetentionPolicy } from '../retention/retention-policy.ts';
import { RetentionService, type RetentionLogger } from '../retention/retention-service.ts';
import { StorageRouter } from '../sinks/sink-router.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';

export interface OpenedStorage {
  readonly config: GatewayConfig;
  readonly router: StorageRouter;
  readonly retention: RetentionService;
  readonly control: ControlStore;
  close(): Promise<void>;
}

/**
 * Builds the retention policy and service the gateway and the CLI share;
 * with a control store, rules and holds live there (imported once from the
 * sinks of older versions: call importSinkRetention before load()).
 */
export function retentionFromConfig(config: GatewayConfig, router: StorageRouter, logger?: RetentionLogger, control?: ControlStore): RetentionService {
  const storage = resolveStorageConfig(config.storage);
  const policy = new RetentionPolicy({ tenants: config.tenants, defaultRetention: storage.defaultRetention });
  return new RetentionService(router, policy, {
    batchSize: storage.sweeper.batchSize, knownStreams: Object.keys(config.streams), ...(logger ? { logger } : {}),
    ...(control ? { state: controlRetentionState(control) } : {}),
  });
}

/** Refuses (TIQ_ERR_CONFIG) a start where a tenant has records outside the sink it is pinned to (StorageRouter.strayTenantRecords). */
export async function refuseStrayTenantRecords(router: StorageRouter, config: GatewayConfig): Promise<void> {
  const problems = await router.strayTenantRecords(Object.keys(config.tenants));
  if (problems.length > 0) throw new TiqError('TIQ_ERR_CONFIG', { problems });
}

/** Imports the sinks' rules and holds of older versions into the control store, once. */
export function importRetentionFromSinks(control: ControlStore, router: StorageRouter, log?: ControlStoreLogger): Promise<void> {
  return importSinkRetention(control, router.sinks, (sink, tenantId) => router.sinkNameFor(tenantId) === sink, log);
}

export async function openStorage(configPath: string | undefined, logger?: RetentionLogger): Promise<OpenedStorage> {
  const { config } = loadConfig(configPath);
  const control = await openControlStore(config.controlStore, resolve(config.dataDir));
  const router = StorageRouter.fromConfig(resolveStorageConfig(config.storage), { dataDir: config.dataDir });
  try {
    await router.start();
    await refuseStrayTenantRecords(router, config);
    await importRetentionFromSinks(control, router);
  } catch (err) {
    await router.close().catch(() => undefined);
    await control.close();
    throw err;
  }
  const retention = retentionFromConfig(config, router, logger, control);
  await retention.load();
  return { config, router, retention, control, close: async () => { await router.close(); await control.close(); } };
}
