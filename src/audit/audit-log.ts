/**
 * The append-only, keyed hash-chained audit log: one JSON entry per line in
 * `<dataDir>/audit/audit.jsonl` (0600). Each entry carries the MAC of the
 * one before it, so changing, removing or reordering any entry breaks every
 * MAC after it (verify-audit-log.ts finds the first break); the chain key
 * (`chain.key`, 0600) is never in the log, and a MACed checkpoint of the
 * head is rewritten after every commit so truncation is found too.
 *
 * Every commit is fsynced and taken under a lock file: the gateway and CLI
 * commands may append to the same log, and an action the API has answered
 * must already be on disk. The gateway appends with `commit()`: entries
 * queued in one turn of the event loop are written with one fsync (group
 * commit) and the lock is awaited with timers, never by blocking.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { TiqError } from '../errors.ts';
import { GENESIS_HASH, sealEntry, type AuditEntry, type AuditInput } from './audit-entry.ts';
import { AuditAggregator, type AggregationOptions } from './audit-aggregator.ts';
import { writeCheckpoint, writeCheckpointAsync, type Checkpoint } from './checkpoint.ts';
import { withFileLock, withFileLockAsync } from './file-lock.ts';
import { readLines } from './line-reader.ts';
import { createPseudonymizer, loadOrCreateSecret, type Pseudonymizer } from './pseudonym.ts';
import { CHAIN_KEY_FILE, CHECKPOINT_FILE, verifyAuditLog, type AuditVerification } from './verify-audit-log.ts';
import type { AuditQuery, AuditTrail } from './audit-trail.ts';

export type { AuditQuery } from './audit-trail.ts';

export interface AuditLogOptions {
  readonly now?: () => number;
  readonly aggregation?: AggregationOptions;
}

/** File names inside the audit directory. */
export const AUDIT_FILE = 'audit.jsonl';
export const PSEUDONYM_SECRET_FILE = 'pseudonym.key';

export function auditPaths(dir: string): { log: string; secret: string; lock: string; chainKey: string; checkpoint: string } {
  return {
    log: join(dir, AUDIT_FILE), secret: join(dir, PSEUDONYM_SECRET_FILE), lock: join(dir, `${AUDIT_FILE}.lock`),
    chainKey: join(dir, CHAIN_KEY_FILE), checkpoint: join(dir, CHECKPOINT_FILE),
  };
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

interface Pending { readonly input: AuditInput; readonly resolve: (e: AuditEntry) => void; readonly reject: (err: unknown) => void }

export class AuditLog implements AuditTrail {
  readonly pseudonyms: Pseudonymizer;
  /** Repeated events (failed authentication, identical denials) folded into one entry per source and interval. */
  readonly aggregator: AuditAggregator;
  private readonly paths: ReturnType<typeof auditPaths>;
  private readonly now: () => number;
  private readonly chainKey: Buffer;
  private queue: Pending[] = [];
  /**
   * Called with the new head after every commit (a group commit calls it
   * once): the gateway records it in the control store without making the
   * commit wait. Must not throw.
   */
  onCommit: ((head: { readonly seq: number; readonly hash: string; readonly time: string }) => void) | undefined;
  private flushing: Promise<void> | undefined;

  /** Opens (creating if needed) the log in `dir`, usually `<dataDir>/audit`. */
  constructor(readonly dir: string, options: AuditLogOptions = {}) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.paths = auditPaths(dir);
    this.pseudonyms = createPseudonymizer(this.paths.secret);
    this.chainKey = loadOrCreateSecret(this.paths.chainKey);
    this.now = options.now ?? Date.now;
    this.aggregator = new AuditAggregator((input) => this.commit(input), options.aggregation, this.now);
    // A new log starts with its checkpoint at 0, so that from now on a missing log is a deleted one.
    if (!existsSync(this.paths.log) && !existsSync(this.paths.checkpoint)) {
      try {
        withFileLock(this.paths.lock, () => this.writeBatch([]));
      } catch {
        // the first append reports TIQ_ERR_AUDIT
      }
    }
  }

  get path(): string {
    return this.paths.log;
  }

  /** Appends one entry and returns it, sealed. Synchronous (CLI); throws TIQ_ERR_AUDIT when it cannot be written. */
  append(input: AuditInput): AuditEntry {
    try {
      return withFileLock(this.paths.lock, () => this.writeBatch([input])[0]!);
    } catch (err) {
      throw asAuditError(err);
    }
  }

  /**
   * Appends without blocking the event loop: resolves once the entry is on
   * disk (fsynced with the others of its batch); rejects TIQ_ERR_AUDIT.
   */
  commit(input: AuditInput): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        const sealed = await withFileLockAsync(this.paths.lock, () => this.writeBatchAsync(batch.map((p) => p.input)));
        batch.forEach((p, i) => p.resolve(sealed[i]!));
      } catch (err) {
        const e = asAuditError(err);
        for (const p of batch) p.reject(e);
      }
    }
    this.flushing = undefined;
  }

  /** Seals onto the current head: the entries, their text and the new head. */
  private seal(inputs: readonly AuditInput[]): { sealed: AuditEntry[]; text: string; checkpoint: Checkpoint } {
    let head = this.head();
    const time = new Date(this.now()).toISOString();
    const sealed = inputs.map((input) => {
      const entry = sealEntry(input, head.seq + 1, time, head.hash, this.chainKey);
      head = { seq: entry.seq, hash: entry.hash };
      return entry;
    });
    return { sealed, text: sealed.map((e) => `${JSON.stringify(e)}\n`).join(''), checkpoint: { ...head, time } };
  }

  /** The gateway's group commit: the same steps as writeBatch, with the write and both fsyncs off the event loop. */
  private async writeBatchAsync(inputs: readonly AuditInput[]): Promise<AuditEntry[]> {
    const { sealed, text, checkpoint } = this.seal(inputs);
    const file = await open(this.paths.log, 'a', 0o600);
    try {
      if (sealed.length > 0) await file.write(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await writeCheckpointAsync(this.paths.checkpoint, checkpoint, this.chainKey);
    if (sealed.length > 0) this.onCommit?.(checkpoint);
    return sealed;
  }

  /** Under the lock: seals onto the current head, writes with one fsync, moves the checkpoint. */
  private writeBatch(inputs: readonly AuditInput[]): AuditEntry[] {
    const { sealed, text, checkpoint } = this.seal(inputs);
    const fd = openSync(this.paths.log, 'a', 0o600);
    try {
      if (sealed.length > 0) writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    writeCheckpoint(this.paths.checkpoint, checkpoint, this.chainKey);
    if (sealed.length > 0) this.onCommit?.(checkpoint);
    return sealed;
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

  /** The chain, the checkpoint and the key next to the log (verify-audit-log.ts). */
  verify(): AuditVerification {
    return verifyAuditLog(this.paths.log);
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

  /** Entries matching the query, oldest first; reads line by line and stops at the limit. */
  query(q: AuditQuery = {}): AuditEntry[] {
    const out: AuditEntry[] = [];
    const limit = q.limit ?? 100;
    if (!existsSync(this.paths.log)) return out;
    for (const entry of parsedEntries(this.paths.log)) {
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

function asAuditError(err: unknown): TiqError {
  return err instanceof TiqError ? err : new TiqError('TIQ_ERR_AUDIT', { reason: (err as Error).message }, { cause: err });
}

/** Parsed entries; lines that do not parse are skipped here (verify reports them). */
function* parsedEntries(path: string): Generator<AuditEntry> {
  for (const line of readLines(path)) {
    if (!line.trim()) continue;
    try {
      yield JSON.parse(line) as AuditEntry;
    } catch {
      // skipped
    }
  }
}

export function auditDirOf(dataDir: string): string {
  return join(dataDir, 'audit');
}
