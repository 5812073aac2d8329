/**
 * The append-only, hash-chained audit log: one JSON entry per line in
 * `<dataDir>/audit/audit.jsonl` (0600). Each entry carries the hash of the
 * one before it, so changing, removing or reordering any entry breaks every
 * hash after it (verify-audit-log.ts finds the first break).
 *
 * Appends are synchronous, fsynced and taken under a lock file: the gateway
 * and CLI commands may append to the same log, and an action the API has
 * answered must already be on disk.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TiqError } from '../errors.ts';
import { GENESIS_HASH, sealEntry, type AuditEntry, type AuditInput } from './audit-entry.ts';
import { withFileLock } from './file-lock.ts';
import { createPseudonymizer, type Pseudonymizer } from './pseudonym.ts';

export interface AuditQuery {
  readonly tenant?: string;
  readonly action?: string;
  readonly actor?: string;
  /** Entries with seq greater than this. */
  readonly afterSeq?: number;
  readonly limit?: number;
}

export interface AuditLogOptions {
  readonly now?: () => number;
}

/** File names inside the audit directory. */
export const AUDIT_FILE = 'audit.jsonl';
export const PSEUDONYM_SECRET_FILE = 'pseudonym.key';

export function auditPaths(dir: string): { log: string; secret: string; lock: string } {
  return { log: join(dir, AUDIT_FILE), secret: join(dir, PSEUDONYM_SECRET_FILE), lock: join(dir, `${AUDIT_FILE}.lock`) };
}

const TAIL_BYTES = 64 * 1024;

/** The last complete line of a file (entries are far smaller than TAIL_BYTES). */
function lastLine(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    return lines.at(-1);
  } finally {
    closeSync(fd);
  }
}

export class AuditLog {
  readonly pseudonyms: Pseudonymizer;
  private readonly paths: ReturnType<typeof auditPaths>;
  private readonly now: () => number;

  /** Opens (creating if needed) the log in `dir`, usually `<dataDir>/audit`. */
  constructor(readonly dir: string, options: AuditLogOptions = {}) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.paths = auditPaths(dir);
    this.pseudonyms = createPseudonymizer(this.paths.secret);
    this.now = options.now ?? Date.now;
  }

  get path(): string {
    return this.paths.log;
  }

  /** Appends one entry and returns it, sealed. Throws TIQ_ERR_AUDIT when it cannot be written. */
  append(input: AuditInput): AuditEntry {
    try {
      return withFileLock(this.paths.lock, () => {
        const head = this.head();
        const entry = sealEntry(input, head.seq + 1, new Date(this.now()).toISOString(), head.hash);
        const fd = openSync(this.paths.log, 'a', 0o600);
        try {
          writeSync(fd, `${JSON.stringify(entry)}\n`);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        return entry;
      });
    } catch (err) {
      throw err instanceof TiqError ? err : new TiqError('TIQ_ERR_AUDIT', { reason: (err as Error).message }, { cause: err });
    }
  }

  /** For readiness: the tail parses and the log can be opened for appending. Never throws. */
  health(): { ok: boolean; detail?: string } {
    try {
      this.head();
      closeSync(openSync(this.paths.log, 'a', 0o600));
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: err instanceof TiqError ? err.code : 'TIQ_ERR_AUDIT' };
    }
  }

  /** Sequence and hash of the last entry: publish it elsewhere to detect truncation of the tail. */
  head(): { seq: number; hash: string } {
    if (!existsSync(this.paths.log) || statSync(this.paths.log).size === 0) return { seq: 0, hash: GENESIS_HASH };
    const line = lastLine(this.paths.log);
    if (line === undefined) return { seq: 0, hash: GENESIS_HASH };
    try {
      const last = JSON.parse(line) as Partial<AuditEntry>;
      if (typeof last.seq !== 'number' || typeof last.hash !== 'string') throw new Error('no seq or hash');
      return { seq: last.seq, hash: last.hash };
    } catch (err) {
      // Never chain onto a torn or forged tail: stop and let an operator run `thingiq audit verify`.
      throw new TiqError('TIQ_ERR_AUDIT', `the last entry of ${this.paths.log} is unreadable`, { cause: err });
    }
  }

  /** Entries matching the query, oldest first. */
  query(q: AuditQuery = {}): AuditEntry[] {
    const out: AuditEntry[] = [];
    const limit = q.limit ?? 100;
    for (const entry of readEntries(this.paths.log)) {
      if (q.afterSeq !== undefined && entry.seq <= q.afterSeq) continue;
      if (q.tenant !== undefined && entry.tenant !== q.tenant) continue;
      if (q.action !== undefined && entry.action !== q.action) continue;
      if (q.actor !== undefined && entry.actor !== q.actor) continue;
      out.push(entry);
      if (out.length >= limit) break;
    }
    return out;
  }
}

/** Parsed entries; lines that do not parse are skipped here (verify reports them). */
function readEntries(path: string): AuditEntry[] {
  if (!existsSync(path)) return [];
  const out: AuditEntry[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as AuditEntry);
    } catch {
      // skipped
    }
  }
  return out;
}

export function auditDirOf(dataDir: string): string {
  return join(dataDir, 'audit');
}

