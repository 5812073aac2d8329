/**
 * Recomputes the audit chain from the first entry and reports the first
 * entry that does not hold: unparsable, out of sequence, not chained to its
 * predecessor, or whose stored MAC differs from the recomputed one. An
 * entry changed in place fails its own MAC; one removed or reordered breaks
 * the sequence and the chain after it; re-chaining the rest needs the chain
 * key, which is not in the log. Then the checkpoint: a log that is missing,
 * or shorter than the checkpoint says it was, fails too.
 *
 * Reads the log line by line: memory does not grow with its size.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GENESIS_HASH, hashEntry, type AuditEntry } from './audit-entry.ts';
import { readCheckpoint, type Checkpoint } from './checkpoint.ts';
import { readLines } from './line-reader.ts';
import { loadSecret } from './pseudonym.ts';

/** File names next to the log (the AuditLog creates them). */
export const CHAIN_KEY_FILE = 'chain.key';
export const CHECKPOINT_FILE = 'checkpoint.json';

export interface AuditBreak {
  /** 1-based line number in the file. */
  readonly line: number;
  /** The sequence the entry should have had. */
  readonly expectedSeq: number;
  /**
   * missing: no log file; key: no chain key to verify with; checkpoint: the
   * checkpoint is absent, forged or names an entry the log does not hold;
   * truncated: the checkpoint says more entries existed; anchor: the head
   * recorded in the control store is not in the log (audit-anchor.ts).
   */
  readonly reason: 'unparsable' | 'sequence' | 'chain' | 'hash' | 'fields' | 'missing' | 'key' | 'checkpoint' | 'truncated' | 'anchor';
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  /** Sequence and hash of the last good entry (compare with an anchor kept elsewhere). */
  readonly head: { readonly seq: number; readonly hash: string };
  readonly checkpoint?: Checkpoint;
  readonly firstBreak?: AuditBreak;
}

export interface VerifyOptions {
  /** The chain key file; default `chain.key` next to the log. */
  readonly keyFile?: string;
  /** The checkpoint file; default `checkpoint.json` next to the log. */
  readonly checkpointFile?: string;
}

const STRING_FIELDS = ['time', 'actor', 'role', 'action', 'target', 'tenant', 'result', 'detail', 'prevHash', 'hash'] as const;

function wellFormed(v: unknown): v is AuditEntry {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  // Exactly these fields: an added field is outside the MAC, so it would be tampering that goes unseen.
  return Object.keys(e).length === STRING_FIELDS.length + 1 && Number.isInteger(e['seq']) && STRING_FIELDS.every((f) => typeof e[f] === 'string');
}

function check(line: string, expectedSeq: number, prevHash: string, key: Buffer): AuditBreak['reason'] | AuditEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return 'unparsable';
  }
  if (!wellFormed(parsed)) return 'fields';
  if (parsed.seq !== expectedSeq) return 'sequence';
  if (parsed.prevHash !== prevHash) return 'chain';
  const { hash, ...body } = parsed;
  return hashEntry(body, key) === hash ? parsed : 'hash';
}

type Walk = { head: { seq: number; hash: string }; atCheckpoint?: string } | { head: { seq: number; hash: string }; brk: AuditBreak };

function walk(path: string, key: Buffer, checkpointSeq: number): Walk {
  let head = { seq: 0, hash: GENESIS_HASH };
  let atCheckpoint: string | undefined = checkpointSeq === 0 ? GENESIS_HASH : undefined;
  let lineNo = 0;
  for (const line of readLines(path)) {
    lineNo++;
    const result = check(line, head.seq + 1, head.hash, key);
    if (typeof result === 'string') return { head, brk: { line: lineNo, expectedSeq: head.seq + 1, reason: result } };
    head = { seq: result.seq, hash: result.hash };
    if (result.seq === checkpointSeq) atCheckpoint = result.hash;
  }
  return { head, ...(atCheckpoint !== undefined ? { atCheckpoint } : {}) };
}

export function verifyAuditLog(path: string, options: VerifyOptions = {}): AuditVerification {
  const fail = (reason: AuditBreak['reason'], head = { seq: 0, hash: GENESIS_HASH }): AuditVerification =>
    ({ ok: false, entries: head.seq, head, firstBreak: { line: head.seq + 1, expectedSeq: head.seq + 1, reason } });
  if (!existsSync(path)) return fail('missing');
  const key = loadSecret(options.keyFile ?? join(dirname(path), CHAIN_KEY_FILE));
  if (!key) return fail('key');
  const checkpoint = readCheckpoint(options.checkpointFile ?? join(dirname(path), CHECKPOINT_FILE), key);
  const result = walk(path, key, checkpoint && checkpoint !== 'invalid' ? checkpoint.seq : -1);
  if ('brk' in result) return { ok: false, entries: result.head.seq, head: result.head, firstBreak: result.brk };
  if (checkpoint === undefined || checkpoint === 'invalid') return fail('checkpoint', result.head);
  if (checkpoint.seq > result.head.seq) return { ...fail('truncated', result.head), checkpoint };
  if (result.atCheckpoint !== checkpoint.hash) return { ...fail('checkpoint', result.head), checkpoint };
  return { ok: true, entries: result.head.seq, head: result.head, checkpoint };
}
