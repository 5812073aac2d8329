/**
 * Recomputes the audit chain from the first entry and reports the first
 * entry that does not hold: unparsable, out of sequence, not chained to its
 * predecessor, or whose stored hash differs from the recomputed one. An
 * entry changed in place fails its own hash; one removed or reordered breaks
 * the sequence and the chain after it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { GENESIS_HASH, hashEntry, type AuditEntry } from './audit-entry.ts';

export interface AuditBreak {
  /** 1-based line number in the file. */
  readonly line: number;
  /** The sequence the entry should have had. */
  readonly expectedSeq: number;
  readonly reason: 'unparsable' | 'sequence' | 'chain' | 'hash' | 'fields';
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  /** Sequence and hash of the last good entry (compare with an anchor kept elsewhere). */
  readonly head: { readonly seq: number; readonly hash: string };
  readonly firstBreak?: AuditBreak;
}

const STRING_FIELDS = ['time', 'actor', 'role', 'action', 'target', 'tenant', 'result', 'detail', 'prevHash', 'hash'] as const;

function wellFormed(v: unknown): v is AuditEntry {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  // Exactly these fields: an added field is outside the hash, so it would be tampering that goes unseen.
  return Object.keys(e).length === STRING_FIELDS.length + 1 && Number.isInteger(e['seq']) && STRING_FIELDS.every((f) => typeof e[f] === 'string');
}

function check(line: string, expectedSeq: number, prevHash: string): AuditBreak['reason'] | AuditEntry {
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
  return hashEntry(body) === hash ? parsed : 'hash';
}

export function verifyAuditLog(path: string): AuditVerification {
  if (!existsSync(path)) return { ok: true, entries: 0, head: { seq: 0, hash: GENESIS_HASH } };
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  let head = { seq: 0, hash: GENESIS_HASH };
  for (const [i, line] of lines.entries()) {
    const result = check(line, head.seq + 1, head.hash);
    if (typeof result === 'string') {
      return { ok: false, entries: head.seq, head, firstBreak: { line: i + 1, expectedSeq: head.seq + 1, reason: result } };
    }
    head = { seq: result.seq, hash: result.hash };
  }
  return { ok: true, entries: head.seq, head };
}
