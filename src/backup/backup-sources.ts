/**
 * What a backup holds and what it never holds. It holds what a restore
 * needs: each SQLite telemetry sink and the SQLite control store (as
 * snapshots), the audit log with its checkpoint and keys, the PKI
 * directory (CA, issuance registry, server certificate), and the state
 * files of the data directory (the idempotency secret, receipts, the
 * private-mode log). It never holds the key store: the root key, the
 * keyring and any other file keyStorePaths names. Erasure destroys keys
 * there, so a backup without them can never bring an erased device back.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { GatewayConfig } from '../config/schema.ts';
import { DEFAULT_CONTROL_STORE } from '../config/control-config.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';
import { auditDirOf, auditPaths } from '../audit/audit-log.ts';
import { LOCK_FILE } from '../instance/data-dir-lock.ts';
import { localOperatorFiles } from '../instance/local-operator.ts';
import { keyStorePaths as keyStoreFilePaths, type KeysConfigSlice } from '../keys/key-store-paths.ts';

/** Paths resolve as the gateway resolves them (relative to its working directory or baseDir). */
export type ResolvePath = (p: string) => string;

export interface SqliteSource { readonly sink: string; readonly path: string }

/** Where each archive entry comes from and goes back to. */
export type EntryRole = 'sqlite-sink' | 'control-store' | 'audit' | 'data' | 'pki';

/** Directory of the gateway's in-progress backups inside dataDir (never backed up itself). */
export const BACKUP_WORK_DIR = 'backup-work';

/** The config's key-store paths resolved as the gateway resolves them, for the keys area (key-store-paths.ts). */
export function keysSliceOf(config: GatewayConfig, resolvePath: ResolvePath): KeysConfigSlice {
  const keys = config.keys;
  const local = keys?.local;
  const vault = keys?.deviceVault;
  return {
    dataDir: resolvePath(config.dataDir),
    tenants: config.tenants,
    keys: keys && {
      ...keys,
      local: { ...local!, ...(local?.keyringFile ? { keyringFile: resolvePath(local.keyringFile) } : {}), ...(local?.rootKeyFile ? { rootKeyFile: resolvePath(local.rootKeyFile) } : {}) },
      deviceVault: { ...vault!, ...(vault?.file ? { file: resolvePath(vault.file) } : {}) },
    },
  };
}

/**
 * Files of the key store, never written into a backup: the device key
 * vault, the keyring and the root key (key-store-paths.ts), and a root key
 * left at its default place even when no tenant uses the local provider.
 */
export function keyStorePaths(config: GatewayConfig, resolvePath: ResolvePath): string[] {
  const slice = keysSliceOf(config, resolvePath);
  return [...new Set([...keyStoreFilePaths(slice), join(slice.dataDir, 'root.key'), join(slice.dataDir, 'keyring.json')])];
}

/** True when a key-store file lives in the data directory: losing that directory then loses the keys a restore needs. */
export function keyStoreInsideDataDir(config: GatewayConfig, resolvePath: ResolvePath): boolean {
  const dataDir = resolvePath(config.dataDir);
  return keyStorePaths(config, resolvePath).some((p) => isInside(dataDir, p) && existsSync(p));
}

export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

export function sqliteSinks(config: GatewayConfig, resolvePath: ResolvePath): SqliteSource[] {
  const dataDir = resolvePath(config.dataDir);
  return Object.entries(resolveStorageConfig(config.storage).sinks).flatMap(([sink, s]) =>
    s.type === 'sqlite' && s.path !== ':memory:' ? [{ sink, path: isAbsolute(s.path) ? s.path : join(dataDir, s.path) }] : []);
}

export function postgresSinks(config: GatewayConfig): string[] {
  return Object.entries(resolveStorageConfig(config.storage).sinks).filter(([, s]) => s.type === 'postgres').map(([name]) => name);
}

/** The SQLite control store's file, or undefined when the control store is PostgreSQL. */
export function controlStorePath(config: GatewayConfig, resolvePath: ResolvePath): string | undefined {
  const c = config.controlStore ?? DEFAULT_CONTROL_STORE;
  if (c.type !== 'sqlite') return undefined;
  return isAbsolute(c.path) ? c.path : join(resolvePath(config.dataDir), c.path);
}

export function auditFiles(dataDir: string): { name: string; path: string }[] {
  const p = auditPaths(auditDirOf(dataDir));
  return [p.log, p.checkpoint, p.chainKey, p.secret].map((path) => ({ name: relative(auditDirOf(dataDir), path), path }));
}

/**
 * The data directory's other state files (relative paths): everything but
 * the databases (snapshotted), the audit directory (copied under its lock),
 * the key store, the lock, the local operator's credentials (reissued at
 * start) and backups in progress or kept there (any `.tiqbak` file).
 */
export function dataStateFiles(config: GatewayConfig, resolvePath: ResolvePath): string[] {
  const dataDir = resolvePath(config.dataDir);
  const dbs = [...sqliteSinks(config, resolvePath).map((s) => s.path), controlStorePath(config, resolvePath)].filter((p): p is string => p !== undefined);
  const skip = new Set([...keyStorePaths(config, resolvePath), join(dataDir, LOCK_FILE), ...dbs.flatMap((p) => [p, `${p}-wal`, `${p}-shm`, `${p}-journal`])]);
  const skipDirs = new Set([auditDirOf(dataDir), localOperatorFiles(dataDir).dir, join(dataDir, BACKUP_WORK_DIR), ...(config.backup?.dir ? [resolvePath(config.backup.dir)] : [])]);
  return walkFiles(dataDir, (p) => !skip.has(p) && !p.endsWith('.tmp') && !p.endsWith('.tiqbak'), (d) => !skipDirs.has(d)).map((p) => relative(dataDir, p).split(sep).join('/'));
}

/** Regular files under `dir` (symbolic links are not followed), sorted. */
export function walkFiles(dir: string, keepFile: (p: string) => boolean = () => true, enterDir: (p: string) => boolean = () => true): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) { if (enterDir(path)) out.push(...walkFiles(path, keepFile, enterDir)); }
    else if (st.isFile() && keepFile(path)) out.push(path);
  }
  return out;
}
