/**
 * How the CLI's commands reach the keys, storage and codec: the same pieces
 * the gateway composes, opened on demand for one command and closed after.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { openKeyContext, type KeyContext } from '../keys/key-context.ts';
import { clusterKeyOptions, offlineVaultJoin } from '../cluster/cluster-state.ts';
import { deviceVaultPath } from '../keys/key-store-paths.ts';
import { TelemetryCodec } from '../messages/codec.ts';
import { recordDecoder } from '../messages/record-decoder.ts';
import type { SealedRecord } from '../records/message.ts';
import { openControlStore } from '../control/open-control-store.ts';
import { refuseStrayTenantRecords, retentionFromConfig } from '../gateway/open-storage.ts';
import { RoutedDataKeyStore } from '../sinks/routed-data-key-store.ts';
import { StorageRouter } from '../sinks/sink-router.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';
import type { OpenedDataKeyStore } from './keys-commands.ts';

export async function openDataKeyStore(config: GatewayConfig): Promise<OpenedDataKeyStore> {
  const router = StorageRouter.fromConfig(resolveStorageConfig(config.storage), { dataDir: resolve(config.dataDir) });
  await router.start();
  try {
    // A tenant's keys in a sink it is no longer pinned to would escape a shred.
    await refuseStrayTenantRecords(router, config);
  } catch (err) {
    await router.close().catch(() => undefined);
    throw err;
  }
  return {
    store: new RoutedDataKeyStore(router),
        isHeld: async (tenantId, deviceId) => {
      // As the gateway decides: the control store's holds (another gateway's, a restore's) over the config file's.
      const control = await openControlStore(config.controlStore, resolve(config.dataDir));
      try {
        const retention = retentionFromConfig(config, router, undefined, control);
        await retention.load();
        return retention.policy.isHeld(tenantId, deviceId);
      } finally {
        await control.close();
      }
    },
    close: () => router.close(),
  };
}

/** Decrypts records for `records export`: opens keys and storage on first use, closes at exit. */
export function lazyRecordOpener(program: Command) {
  let opened: Promise<{ ctx: KeyContext; close: () => Promise<void> }> | undefined;
  const open = () => {
    opened ??= (async () => {
      const { config } = loadConfig(program.opts<{ config?: string }>().config);
      const store = await openDataKeyStore(config);
      const ctx = await openKeyContext({ ...config, dataDir: resolve(config.dataDir) }, store.store, await clusterKeyOptions(config, offlineVaultJoin(config, deviceVaultPath(config))));
      return { ctx, close: async () => { await ctx.close(); await store.close(); } };
    })();
    return opened;
  };
  process.once('beforeExit', () => { void opened?.then((o) => o.close()); });
  return async (record: SealedRecord): Promise<Buffer> => (await open()).ctx.sealer.open(record);
}

/** Decodes a stored payload by its stream's message type (the config is read on first use). */
export function configDecoder(program: Command) {
  let config: GatewayConfig | undefined;
  return recordDecoder(TelemetryCodec.load(), () => (config ??= loadConfig(program.opts<{ config?: string }>().config).config));
}
