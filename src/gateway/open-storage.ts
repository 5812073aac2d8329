/**
 * Opens the configured storage for a short-lived command (the CLI): the
 * sinks, the router, and the retention service over them.
 */
import { loadConfig } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { RetentionPolicy } from '../retention/retention-policy.ts';
import { RetentionService, type RetentionLogger } from '../retention/retention-service.ts';
import { StorageRouter } from '../sinks/sink-router.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';

export interface OpenedStorage {
  readonly config: GatewayConfig;
  readonly router: StorageRouter;
  readonly retention: RetentionService;
  close(): Promise<void>;
}

/** Builds the retention policy and service the gateway and the CLI share. */
export function retentionFromConfig(config: GatewayConfig, router: StorageRouter, logger?: RetentionLogger): RetentionService {
  const storage = resolveStorageConfig(config.storage);
  const policy = new RetentionPolicy({ tenants: config.tenants, defaultRetention: storage.defaultRetention });
  return new RetentionService(router, policy, {
    batchSize: storage.sweeper.batchSize, knownStreams: Object.keys(config.streams), ...(logger ? { logger } : {}),
  });
}

export async function openStorage(configPath: string | undefined, logger?: RetentionLogger): Promise<OpenedStorage> {
  const { config } = loadConfig(configPath);
  const router = StorageRouter.fromConfig(resolveStorageConfig(config.storage), { dataDir: config.dataDir });
  await router.start();
  const retention = retentionFromConfig(config, router, logger);
  await retention.load();
  return { config, router, retention, close: () => router.close() };
}
