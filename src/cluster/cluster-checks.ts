/**
 * What cluster mode refuses at start (and in `thingiq config check`): every
 * node must be stateless apart from caches, so nothing may live in one
 * node's files that another node would need, and nothing shared may be made
 * up by one node on its own. Every problem is reported at once
 * (TIQ_ERR_CONFIG); without a `cluster` section nothing here applies.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GatewayConfig } from '../config/schema.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';
import { TiqError } from '../errors.ts';
import { keyStoreFiles } from '../keys/key-store-paths.ts';
import { KeysConfigSchema } from '../config/keys-config.ts';
import { pkiPaths } from '../pki/pki-store.ts';

/** Session-ticket keys are derived from this many secret bytes at least. */
export const MIN_TICKET_SECRET_BYTES = 32;

export type ClusterCheckEnv = Readonly<Record<string, string | undefined>>;

/** Every reason this config cannot run as a cluster node; empty without a `cluster` section. */
export function clusterProblems(config: GatewayConfig, baseDir: string, env: ClusterCheckEnv = process.env): string[] {
  const cluster = config.cluster;
  if (!cluster) return [];
  return [
    ...controlStoreProblems(config),
    ...sinkProblems(config),
    ...rootKeyProblems(config, baseDir, env),
    ...pkiProblems(config, baseDir),
    ...ticketSecretProblems(resolve(baseDir, cluster.sessionTickets.secretFile)),
  ];
}

/** Throws TIQ_ERR_CONFIG listing every problem of cluster mode. */
export function assertClusterReady(config: GatewayConfig, baseDir: string, env: ClusterCheckEnv = process.env): void {
  const problems = clusterProblems(config, baseDir, env);
  if (problems.length) throw new TiqError('TIQ_ERR_CONFIG', { problems });
}

function controlStoreProblems(config: GatewayConfig): string[] {
  if (config.controlStore?.type === 'postgres') return [];
  return [`controlStore: cluster mode needs the PostgreSQL control store (type: postgres) that every node shares; found ${config.controlStore ? `"${config.controlStore.type}"` : 'none (SQLite in the data directory)'}`];
}

function sinkProblems(config: GatewayConfig): string[] {
  const storage = resolveStorageConfig(config.storage);
  const problems: string[] = [];
  if (!config.storage) problems.push('storage: absent, so records go to a SQLite file in this node\'s data directory; cluster mode needs PostgreSQL sinks (storage.sinks.<name>.type: postgres)');
  else {
    for (const [name, sink] of Object.entries(storage.sinks)) {
      if (sink.type !== 'sqlite') continue;
      const users = [...(storage.defaultSink === name ? ['the default sink'] : []),
        ...Object.entries(storage.tenantSinks).filter(([, s]) => s === name).map(([t]) => `tenant ${t}`)];
      problems.push(`storage.sinks.${name}: SQLite is one node's file; cluster mode needs PostgreSQL sinks${users.length ? ` (used by ${users.join(', ')})` : ''}`);
    }
  }
  return problems;
}

function rootKeyProblems(config: GatewayConfig, baseDir: string, env: ClusterCheckEnv): string[] {
  const keys = config.keys ?? KeysConfigSchema.parse({});
  const files = keyStoreFiles({ ...config, dataDir: resolve(baseDir, config.dataDir) });
  if (!files.rootKeyFile) return [];
  const fromEnv = env[keys.local.rootKeyEnv];
  if ((fromEnv !== undefined && fromEnv !== '') || existsSync(files.rootKeyFile)) return [];
  return [`keys.local: no root key (${keys.local.rootKeyEnv} is unset and ${files.rootKeyFile} does not exist); cluster mode never generates one: give every node the same root key`];
}

function pkiProblems(config: GatewayConfig, baseDir: string): string[] {
  const p = pkiPaths(resolve(baseDir, config.pkiDir));
  if (!existsSync(p.caCert)) {
    return [`pkiDir: no CA certificate at ${p.caCert}; cluster mode never generates a PKI: every node trusts the same CA (ca.key only where certificates are issued)`];
  }
  if ((!existsSync(p.serverCert) || !existsSync(p.serverKey)) && !existsSync(p.caKey)) {
    return [`pkiDir: no server certificate and key at ${p.serverCert}, ${p.serverKey}, and no CA key to issue them; issue this node's server certificate with the shared CA`];
  }
  return [];
}

function ticketSecretProblems(file: string): string[] {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    return [`cluster.sessionTickets.secretFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); every node needs the same secret of at least ${MIN_TICKET_SECRET_BYTES} random bytes`];
  }
  const problems: string[] = [];
  if (!st.isFile() || st.size < MIN_TICKET_SECRET_BYTES) problems.push(`cluster.sessionTickets.secretFile: ${file} holds ${st.isFile() ? st.size : 0} bytes; at least ${MIN_TICKET_SECRET_BYTES} random bytes are needed`);
  if ((st.mode & 0o077) !== 0) problems.push(`cluster.sessionTickets.secretFile: ${file} is mode 0${(st.mode & 0o777).toString(8)}; it must be readable by its owner only (chmod 600 it)`);
  return problems;
}
