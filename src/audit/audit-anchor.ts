/**
 * The audit log against an anchor kept outside its directory (the head the
 * control store recorded after a group commit). The checkpoint next to the
 * log is rewritten with it, so whoever can replace the log can replace the
 * checkpoint too; the anchor is out of their reach. A log that no longer
 * holds the anchor's entry (fewer entries: truncated, emptied or deleted and
 * recreated; another entry at that sequence: re-chained) fails.
 */
import { existsSync } from 'node:fs';
import { readLines } from './line-reader.ts';

export interface AuditAnchor {
  readonly seq: number;
  readonly hash: string;
}

export type AnchorCheck = 'ok' | 'truncated' | 'rechained';

/** The hash of the entry with sequence `seq`, or undefined when the log has no such (parsable) entry. */
function hashAt(path: string, seq: number): string | undefined {
  if (!existsSync(path)) return undefined;
  for (const line of readLines(path)) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { seq?: unknown; hash?: unknown };
      if (e.seq === seq) return typeof e.hash === 'string' ? e.hash : undefined;
    } catch {
      // an unparsable line is verify's to report; keep looking for the anchor's sequence
    }
  }
  return undefined;
}

/** `head` is the log's current head (AuditLog.head()); the log is read only when it is past the anchor. */
export function checkAuditAnchor(path: string, head: AuditAnchor, anchor: AuditAnchor): AnchorCheck {
  if (anchor.seq === 0) return 'ok';
  if (head.seq < anchor.seq) return 'truncated';
  const hash = head.seq === anchor.seq ? head.hash : hashAt(path, anchor.seq);
  if (hash === undefined) return 'truncated';
  return hash === anchor.hash ? 'ok' : 'rechained';
}
