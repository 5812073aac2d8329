/**
 * Backups taken by the running gateway: on request through the admin API
 * (`POST /v1/backups`, what `thingiq backup create` uses when a gateway
 * runs), and on a schedule (`backup.dir`, `backup.intervalMs`), keeping the
 * newest `backup.keep` files. Both snapshot the databases on a thread of
 * their own, so ingest goes on (src/backup/snapshot.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminBackups } from '../admin/admin-deps.ts';
import { BACKUP_WORK_DIR } from '../backup/backup-sources.ts';
import { createBackup, type CreatedBackup } from '../backup/create-backup.ts';
import type { BackupConfig } from '../config/backup-config.ts';
import { toTiqError } from '../errors.ts';
import type { AdminSources } from './services.ts';

type BackupSources = Pick<AdminSources, 'config' | 'control' | 'log' | 'path'>;

function make(gw: BackupSources, out: string): Promise<CreatedBackup> {
  return createBackup({ config: gw.config, resolvePath: (p) => gw.path(p), out, keys: { config: gw.config, env: process.env }, control: gw.control });
}

function warn(gw: BackupSources, made: CreatedBackup): void {
  for (const w of made.warnings) gw.log.warn({ event: 'backup_warning' }, w);
}

export function backupsAdmin(gw: BackupSources): AdminBackups {
  return {
    async create() {
      const dir = join(gw.path(gw.config.dataDir), BACKUP_WORK_DIR);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const out = join(dir, `api-${randomBytes(8).toString('hex')}.tiqbak`);
      try {
        const made = await make(gw, out);
        warn(gw, made);
        gw.log.info({ event: 'backup_created', source: 'admin-api', files: made.manifest.files.length, bytes: made.bytes }, 'backup written for the admin API');
        return { file: out, bytes: made.bytes, sha256: made.sha256, files: made.manifest.files.length, discard: () => rmSync(out, { force: true }) };
      } catch (err) {
        rmSync(out, { force: true });
        throw err;
      }
    },
  };
}

/** Scheduled backup files: `thingiq-<UTC time>.tiqbak`, whose names sort by time. */
const SCHEDULED = /^thingiq-\d{8}T\d{9}Z\.tiqbak$/;

export class BackupScheduler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #stopped = false;

  constructor(private readonly gw: BackupSources, private readonly settings: BackupConfig & { dir: string },
    private readonly audit: (entry: { action: string; target: string; result: 'ok' | 'failed'; detail: string }) => void) {}

  start(): void {
    this.#stopped = false;
    if (!this.#timer && !this.#running) this.#schedule();
  }

  /** No more scheduled backups until start() (another cluster node takes them); one being written completes. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = undefined;
    if (this.#closed || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce().finally(() => {
        this.#running = undefined;
        this.#schedule();
      });
    }, this.settings.intervalMs);
    this.#timer.unref();
  }

  /** One scheduled backup, then the oldest files beyond `keep` are deleted. Never throws: a failure is logged and audited. */
  async runOnce(): Promise<void> {
    const dir = this.gw.path(this.settings.dir);
    const name = `thingiq-${new Date().toISOString().replace(/[-:]/g, '').replace('.', '')}.tiqbak`;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const made = await make(this.gw, join(dir, name));
      warn(this.gw, made);
      const removed = this.#prune(dir);
      this.gw.log.info({ event: 'backup_created', source: 'schedule', file: name, bytes: made.bytes, removed: removed.length }, 'scheduled backup written');
      this.audit({ action: 'backup.scheduled', target: `backup:${name}`, result: 'ok', detail: `files=${made.manifest.files.length} bytes=${made.bytes} sha256=${made.sha256} removed=${removed.length}` });
    } catch (err) {
      const e = toTiqError(err);
      this.gw.log.error({ event: 'backup_failed', code: e.code, reason: e.message }, 'scheduled backup failed');
      this.audit({ action: 'backup.scheduled', target: `backup:${name}`, result: 'failed', detail: e.code });
    }
  }

  #prune(dir: string): string[] {
    const files = readdirSync(dir).filter((f) => SCHEDULED.test(f)).sort();
    const old = files.slice(0, Math.max(0, files.length - this.settings.keep));
    for (const f of old) rmSync(join(dir, f), { force: true });
    return old;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
