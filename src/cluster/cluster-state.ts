/**
 * Where cluster mode keeps the state every node shares (docs/scaling.md):
 * the control store's PostgreSQL database holds the shared keyring and the
 * audit chain too, so a cluster needs one database besides its telemetry sinks.
 */
import type { ClusterConfig } from '../config/cluster-config.ts';
import type { ControlStoreConfig } from '../config/control-config.ts';
import { TiqError } from '../errors.ts';
import type { SharedKeyringStore } from '../keys/shared-keyring.ts';
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { pseudonymizerFromSecret } from '../audit/pseudonym.ts';
import { clusterDigestKey, deriveClusterKey, readClusterSecret } from './cluster-secret.ts';
import { clusterNodeId } from './node-id.ts';
import { PgAuditChain } from './pg-audit-chain.ts';
import { PgKeyringStore } from './pg-keyring-store.ts';
import { PgDeviceKeyVault } from './pg-device-vault.ts';
import type { DeviceKekStore, VaultTombstone } from '../keys/device-key-vault.ts';
import { importLocalVault, type VaultJoin } from './vault-import.ts';

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

/**
 * Key context options: in cluster mode the shared keyring and the shared
 * device key vault; nothing otherwise (the keyring file and the vault file).
 * With `join`, a vault file this gateway kept as a single process is moved
 * into the shared vault first (vault-import.ts).
 */
export async function clusterKeyOptions(config: ClusterStateConfig, join?: VaultJoin): Promise<{ sharedKeyring?: SharedKeyringStore; deviceVault?: DeviceKekStore }> {
  if (config.cluster === undefined) return {};
  const url = sharedStateUrl(config);
  let opened: { sharedKeyring: SharedKeyringStore; deviceVault: PgDeviceKeyVault };
  try {
    const sharedKeyring = await PgKeyringStore.open(url);
    try {
      opened = { sharedKeyring, deviceVault: await PgDeviceKeyVault.open(url) };
    } catch (err) {
      await sharedKeyring.close();
      throw err;
    }
  } catch (err) {
    throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', { reason: 'cannot open the shared keyring', driverCode: (err as { code?: string }).code ?? 'unknown' }, { cause: err });
  }
  try {
    if (join) await importLocalVault(opened.deviceVault, join);
  } catch (err) {
    await opened.sharedKeyring.close();
    await opened.deviceVault.close();
    throw err;
  }
  return opened;
}

/**
 * The erasure tombstones of the device key vault every node shares, in
 * cluster mode; undefined for a single process (its vault file holds them).
 */
export async function sharedVaultTombstones(config: ClusterStateConfig): Promise<readonly VaultTombstone[] | undefined> {
  if (config.cluster === undefined) return undefined;
  const vault = await PgDeviceKeyVault.open(sharedStateUrl(config));
  try {
    return await vault.listTombstones();
  } finally {
    await vault.close();
  }
}

/**
 * How an offline command joins a vault file (vault-import.ts): the move is
 * audited in the cluster's chain, opened only when something moved.
 */
export function offlineVaultJoin(config: ClusterStateConfig, vaultFile: string): VaultJoin {
  return {
    vaultFile,
    audit: async (entry) => {
      const chain = await clusterAuditTrail(config);
      try {
        await chain?.commit(entry);
      } finally {
        await chain?.close();
      }
    },
  };
}

export interface ClusterPaths {
  /** Resolves a configured path (the gateway's base directory; the CLI's working directory). */
  readonly resolvePath?: (p: string) => string;
  /** This node's id; default clusterNodeId(cluster.nodeId). */
  readonly nodeId?: string;
}

function clusterSecret(cluster: ClusterConfig, paths: ClusterPaths): Buffer {
  return readClusterSecret((paths.resolvePath ?? resolve)(cluster.sessionTickets.secretFile));
}

/**
 * The audit chain every node appends to, in cluster mode; undefined for a
 * single process (its file log). Chain key and pseudonym secret come from the
 * cluster secret, so every node seals and pseudonymises alike.
 */
export async function clusterAuditTrail(config: ClusterStateConfig, paths: ClusterPaths = {}): Promise<PgAuditChain | undefined> {
  if (config.cluster === undefined) return undefined;
  const url = sharedStateUrl(config);
  const secret = clusterSecret(config.cluster, paths);
  return PgAuditChain.open({
    connectionString: url,
    node: paths.nodeId ?? clusterNodeId(config.cluster.nodeId),
    chainKey: deriveClusterKey(secret, 'audit-chain'),
    pseudonyms: pseudonymizerFromSecret(deriveClusterKey(secret, 'audit-pseudonyms')),
  });
}

/** The idempotency digest key every node shares in cluster mode; undefined for a single process (its own file). */
export function clusterDigestSecret(config: ClusterStateConfig, paths: ClusterPaths = {}): KeyObject | undefined {
  return config.cluster === undefined ? undefined : clusterDigestKey(clusterSecret(config.cluster, paths));
}
