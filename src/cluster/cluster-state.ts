/**
 * Where cluster mode keeps the state every node shares (docs/scaling.md):
 * the control store's PostgreSQL database holds the shared keyring and the
 * audit chain too, so a cluster needs one database besides its telemetry sinks.
 */
import type { ClusterConfig } from '../config/cluster-config.ts';
import type { ControlStoreConfig } from '../config/control-config.ts';
import { TiqError } from '../errors.ts';
import type { SharedKeyringStore } from '../keys/shared-keyring.ts';
import { PgKeyringStore } from './pg-keyring-store.ts';

export interface ClusterStateConfig {
  readonly cluster?: ClusterConfig | undefined;
  readonly controlStore?: ControlStoreConfig | undefined;
}

/** The shared database's connection string; TIQ_ERR_CONFIG when cluster mode has no PostgreSQL control store. */
export function sharedStateUrl(config: ClusterStateConfig): string {
  const c = config.controlStore;
  if (c?.type !== 'postgres') {
    throw new TiqError('TIQ_ERR_CONFIG', { problems: ['controlStore: cluster mode needs the postgres control store (the nodes share its database)'] });
  }
  return c.connectionString;
}

/** Key context options: the shared keyring in cluster mode, nothing otherwise (the keyring file). */
export async function clusterKeyOptions(config: ClusterStateConfig): Promise<{ sharedKeyring?: SharedKeyringStore }> {
  if (config.cluster === undefined) return {};
  const url = sharedStateUrl(config);
  try {
    return { sharedKeyring: await PgKeyringStore.open(url) };
  } catch (err) {
    throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'cannot open the shared keyring', driverCode: (err as { code?: string }).code ?? 'unknown' }, { cause: err });
  }
}
