/**
 * `thingiq backup create|verify|restore` (docs/operations.md, "Backups").
 *
 * create: when a gateway runs on the data directory, through its admin API
 * as the local operator (the gateway snapshots its own databases and audits
 * the call); else offline under the data directory's lock, audited with the
 * same actor. verify and restore work on the file with the local key store;
 * restore refuses a live data directory (state-path.ts, data-dir-lock.ts).
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import type { BackupKeySettings } from '../backup/backup-key.ts';
import { keysSliceOf, keyStoreInsideDataDir } from '../backup/backup-sources.ts';
import { listVaultTombstones } from '../keys/key-store-paths.ts';
import { clusterAuditTrail, sharedVaultTombstones } from '../cluster/cluster-state.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { checkPgDump } from '../backup/pg-dump-check.ts';
import { createBackup, KEY_STORE_INSIDE_WARNING } from '../backup/create-backup.ts';
import { restoreBackup } from '../backup/restore-backup.ts';
import { restoreAuditDetail } from '../backup/restore-holds.ts';
import type { Pseudonymizer } from '../audit/pseudonym.ts';
import { verifyBackup, type BackupReport } from '../backup/verify-backup.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { ControlStore } from '../control/control-store.ts';
import { isTiqError, TiqError } from '../errors.ts';
import { progressBar } from '../sinks/progress-bar.ts';
import { action, cliConfig } from './context.ts';
import { withControlStore } from './control-access.ts';
import { viaGatewayOrLocally } from './state-path.ts';

const out = (text: string): void => { process.stdout.write(`${text}\n`); };
const say = (text: string): void => { process.stderr.write(`${text}\n`); };

function keySettings(config: GatewayConfig): BackupKeySettings {
  return { config, env: process.env };
}

function progress(label: string): (done: number, total: number) => void {
  const bar = progressBar(process.stderr, label);
  let last = -1;
  let ended = false;
  return (done, total) => {
    if (ended) return;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    if (pct !== last) bar.update(done, total);
    last = pct;
    if (done >= total) {
      ended = true;
      bar.end();
    }
  };
}

/** The backup file argument must be readable: a usage problem (exit 2) otherwise, like every input file. */
function backupFile(file: string): string {
  const path = resolve(file);
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw new TiqError('TIQ_ERR_USAGE', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return path;
}

async function digestOf(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('encrypted backups of the databases, audit log and PKI (never the key store); verify; restore');

  backup.command('create').description('write an encrypted backup (through a running gateway, else offline under the data directory\'s lock)')
    .requiredOption('--out <file>', 'the backup file to write (mode 0600)')
    .option('--json', 'print JSON')
    .action(action(async (opts: { out: string; json?: boolean }, cmd: Command) => {
      const { config } = cliConfig(cmd);
      const file = resolve(opts.out);
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      if (keyStoreInsideDataDir(config, resolve)) say(`thingiq: warning: ${KEY_STORE_INSIDE_WARNING}`);
      const result = await viaGatewayOrLocally(config, {
        online: async (client) => {
          const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
          const stream = createWriteStream(tmp, { mode: 0o600, flags: 'wx' });
          try {
            await client.stream('POST', '/v1/backups', stream);
            stream.end();
            await finished(stream);
            renameSync(tmp, file);
          } catch (err) {
            stream.destroy();
            rmSync(tmp, { force: true });
            throw err;
          }
          return { file, via: 'gateway' };
        },
        offline: (state) => state.audited({ action: 'backup.create' }, async () => {
          const make = (control?: ControlStore) => createBackup({ config, resolvePath: resolve, out: file, keys: keySettings(config), onProgress: progress('backup'), ...(control ? { control } : {}) });
          // A PostgreSQL control store is not in the file; its version and tombstones still go in the manifest.
          const created = config.controlStore?.type === 'postgres' ? await withControlStore(config, make) : await make();
          return { result: { file, via: 'offline', createdAt: created.manifest.createdAt, files: created.manifest.files.length }, note: `files=${created.manifest.files.length} sha256=${created.sha256}` };
        }),
      });
      const sha256 = await digestOf(file);
      const summary = { ...result, sha256 };
      out(opts.json ? JSON.stringify(summary) : `backup written to ${file} (${result.via}), sha256 ${sha256}`);
    }));

  backup.command('verify').description('decrypt and check every frame, file digest, database and the audit chain (exit 1 on any failure)')
    .argument('<file>', 'the backup file')
    .option('--pg-dump <file>', 'also check a pg_dump archive of the PostgreSQL sinks (custom format)')
    .option('--json', 'print JSON')
    .action(action(async (file: string, opts: { pgDump?: string; json?: boolean }, cmd: Command) => {
      const { config } = cliConfig(cmd);
      const path = backupFile(file);
      try {
        const report = await verifyBackup(path, keySettings(config), progress('verify'));
        const pg = opts.pgDump ? await checkPgDump(resolve(opts.pgDump)) : undefined;
        out(opts.json ? JSON.stringify({ ...report, ...(pg ? { pgDump: pg } : {}) }) : describe(report, pg));
      } catch (err) {
        // As `audit verify --json`: a failed check is a result too, with its code, on stdout.
        if (opts.json && isTiqError(err)) out(JSON.stringify({ ok: false, code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) }));
        throw err;
      }
    }));

  backup.command('restore').description('restore into the configured data directory (refused while it is in use, or not empty without --force); re-applies erasures')
    .argument('<file>', 'the backup file')
    .option('--force', 'restore over a data directory that holds data')
    .option('--json', 'print JSON')
    .action(action(async (file: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      const { config } = cliConfig(cmd);
      const result = await restoreBackup({
        file: backupFile(file), config, resolvePath: resolve, keys: keySettings(config), force: opts.force === true, onProgress: progress('restore'),
        // The vault outlives the data directory: its tombstones re-apply erasures even when the control store is lost too.
        // A cluster's vault is the shared one in PostgreSQL; the node's own vault file is not used there.
        extraTombstones: async () => (await sharedVaultTombstones(config) ?? await listVaultTombstones(keysSliceOf(config, resolve))).map((t) => ({
          tenantId: t.tenantId, deviceId: t.deviceId, atMs: t.destroyedAtMs, receiptId: t.receiptId, destroyedCount: t.kekRefs.length,
        })),
      });
      await auditInCluster(config, (pseudonyms) => restoreAuditDetail({ createdAt: result.backup.createdAt, tombstones: result.tombstones, newer: result.tombstonesNewerThanBackup, holds: result }, pseudonyms));
      out(opts.json ? JSON.stringify(result)
        : `restored ${result.restoredFiles} files from the backup of ${result.backup.createdAt}; re-applied ${result.tombstones} erasure tombstone(s), ${result.tombstonesNewerThanBackup} newer than the backup; `
          + `legal holds: ${result.holdsKept} kept, ${result.holdsReleased.length} released after the backup${result.holdsReleased.length ? ` (${result.holdsReleased.join(', ')})` : ''}; audit log verified`
          + `${result.skipped.length ? `; kept existing: ${result.skipped.join(', ')}` : ''}`);
      // Said apart, on stderr: holds the operator must look at (docs/operations.md, "Restore").
      if (result.releasesNotCarried.length > 0) {
        say(`warning: ${result.releasesNotCarried.length} legal hold(s) kept in force whose release the backup contradicts (${result.releasesNotCarried.join(', ')}): release them again if they are to end`);
      }
    }));
}

/**
 * On a cluster node the audit trail is the cluster's chain: the restore is recorded there too (the node's file has it
 * already). The chain names devices by its own pseudonyms (the cluster secret's), hence the detail is made with them.
 */
async function auditInCluster(config: GatewayConfig, detail: (pseudonyms: Pseudonymizer) => string): Promise<void> {
  const chain = await clusterAuditTrail(config);
  if (!chain) return;
  try {
    await chain.commit({ actor: LOCAL_OPERATOR_ACTOR, role: 'operator', action: 'backup.restore', target: '-', tenant: '', result: 'ok', detail: detail(chain.pseudonyms) });
  } finally {
    await chain.close();
  }
}

function describe(r: BackupReport, pg: Awaited<ReturnType<typeof checkPgDump>> | undefined): string {
  const lines = [
    `backup ok: created ${r.createdAt}, ${r.files} files, ${r.bytes} bytes, key ${r.kekRef}`,
    `  control store: ${r.controlStore.backend} version ${r.controlStore.version}${r.controlStore.included ? '' : ' (not in the file)'}`,
    ...r.sinks.map((s) => `  sink ${s.name} (${s.type}): ${s.included ? 'included, integrity ok' : 'NOT in the file: back it up with pg_dump or PITR'}`),
    `  audit log: ${r.audit ? `${r.audit.entries} entries, chain ok` : 'none'}`,
    `  newest erasure tombstone: ${r.newestTombstoneAtMs === null ? 'none' : new Date(r.newestTombstoneAtMs).toISOString()}`,
  ];
  if (pg) lines.push(`  pg_dump ${pg.file}: ${pg.tables.length} ThingIQ tables (${pg.tables.join(', ')})`);
  return lines.join('\n');
}
