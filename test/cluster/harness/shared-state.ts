/**
 * What every node of a test cluster shares, provisioned as an operator
 * would before the first start (cluster mode generates none of it): the
 * root key and the session-ticket secret as 0600 files, the control store's
 * PostgreSQL database (which also holds the keyring, the device vault and
 * the audit chain) and a telemetry sink database. `node()` gives one node's
 * config sections over them, with a data directory of its own. Nothing
 * else: the idempotency digest key is derived from the cluster secret.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPostgres } from '../../helpers/postgres.ts';

export interface SharedClusterState {
  readonly keysDir: string;
  readonly rootKeyFile: string;
  readonly secretFile: string;
  readonly controlUrl: string;
  readonly sinkUrl: string;
  /** One node's config: its data directory (made, 0700), the shared stores, keys and cluster section. */
  node(nodeId: string, natsServers?: readonly string[]): ClusterNodeConfig;
}

export interface ClusterNodeConfig extends Record<string, unknown> {
  readonly dataDir: string;
  readonly controlStore: Record<string, unknown>;
  readonly storage: { sinks: { default: Record<string, unknown> } };
  readonly keys: { local: Record<string, unknown> };
  readonly cluster: Record<string, unknown> & { nodeId: string };
}

export interface SharedStateOptions {
  /** The telemetry sink in the control store's database rather than one of its own. */
  readonly oneDatabase?: boolean;
}

export function writeSecret(path: string, content: string | Buffer): string {
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

/**
 * The two secrets every node needs, as an operator writes them: the root
 * key (base64 of 32 random bytes) and the cluster secret (48 random bytes,
 * from which the ticket keys, the idempotency digest key and the audit
 * chain's keys are derived), mode 0600.
 */
export function writeClusterSecrets(files: { rootKeyFile: string; secretFile: string }): { rootKeyFile: string; secretFile: string } {
  writeSecret(files.rootKeyFile, `${randomBytes(32).toString('base64')}\n`);
  writeSecret(files.secretFile, randomBytes(48));
  return files;
}

export async function provisionSharedState(pg: TestPostgres, baseDir: string, options: SharedStateOptions = {}): Promise<SharedClusterState> {
  const keysDir = join(baseDir, 'shared-keys');
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const { rootKeyFile, secretFile } = writeClusterSecrets({ rootKeyFile: join(keysDir, 'root.key'), secretFile: join(keysDir, 'tickets.secret') });
  const controlUrl = await pg.newDatabase();
  const sinkUrl = options.oneDatabase ? controlUrl : await pg.newDatabase();
  return {
    keysDir, rootKeyFile, secretFile, controlUrl, sinkUrl,
    node: (nodeId, natsServers = ['nats://127.0.0.1:4222']) => {
      const dataDir = join(baseDir, `data-${nodeId}`);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      return {
        dataDir,
        controlStore: { type: 'postgres', connectionString: controlUrl },
        storage: { sinks: { default: { type: 'postgres', connectionString: sinkUrl } } },
        keys: { local: { keyringFile: join(keysDir, 'keyring.json'), rootKeyFile, createRootKey: false } },
        cluster: { nodeId, nats: { servers: [...natsServers] }, sessionTickets: { secretFile } },
      };
    },
  };
}
