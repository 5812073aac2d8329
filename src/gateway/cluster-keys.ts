/**
 * Key state a cluster node shares with the others: the device key vault
 * lives in the PostgreSQL the control store uses, so a device's records open
 * on every node and a shred destroys the one device KEK there is.
 */
import { TiqError } from '../errors.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { PgDeviceKeyVault } from '../cluster/pg-device-vault.ts';
import type { KeyContextOptions } from '../keys/key-context.ts';

export function clusterKeyOptions(config: Pick<GatewayConfig, 'cluster' | 'controlStore'>, log?: { warn(fields: Record<string, unknown>, message: string): void }): KeyContextOptions {
  if (!config.cluster) return {};
  const store = config.controlStore;
  if (store?.type !== 'postgres') {
    throw new TiqError('TIQ_ERR_CONFIG', { problems: ['cluster: the device key vault is shared through PostgreSQL; controlStore.type must be postgres'] });
  }
  return { openDeviceVault: () => PgDeviceKeyVault.open(store.connectionString, log) };
}
