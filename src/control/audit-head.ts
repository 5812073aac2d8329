/**
 * The audit chain's head in the control store (`audit-head` kind), recorded
 * after each group commit of the audit log. The log's directory holds the
 * log, its checkpoint and its key; the store is elsewhere (another file,
 * or PostgreSQL), so a log truncated, emptied, deleted or re-chained along
 * with its checkpoint is still found out at the next start and by
 * `thingiq audit verify`.
 */
import { hostname } from 'node:os';
import type { AuditHeadValue } from './control-kinds.ts';
import type { ControlStore, ControlStoreLogger } from './control-store.ts';

/** One entry per log: host and absolute path (gateways sharing a PostgreSQL store each have their own log). */
export function auditHeadKey(logPath: string): string {
  return `${hostname()}:${logPath}`;
}

/**
 * Records heads without making an audit commit wait: at most one store write
 * in flight, and only the newest head queued behind it (a burst of group
 * commits costs one or two writes). A failed write is logged; the next
 * commit records a newer head.
 */
export class AuditHeadRecorder {
  #latest: AuditHeadValue | undefined;
  #running: Promise<void> | undefined;

  constructor(private readonly store: ControlStore, readonly key: string, private readonly log?: ControlStoreLogger) {}

  record(head: { readonly seq: number; readonly hash: string; readonly time: string }): void {
    this.#latest = { seq: head.seq, hash: head.hash, time: head.time, entries: head.seq };
    // Cleared in a callback, so never before this assignment (the drain may finish without awaiting).
    this.#running ??= this.#drain().finally(() => { this.#running = undefined; });
  }

  /** Resolves once every head recorded so far is written (or its write failed). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#latest) {
      const head = this.#latest;
      this.#latest = undefined;
      // Never move the anchor backwards (a slower, older write would weaken it).
      if ((this.store.get('audit-head', this.key)?.seq ?? 0) >= head.seq) continue;
      try {
        await this.store.put('audit-head', this.key, head, 'system:audit');
      } catch (err) {
        this.log?.error({ event: 'audit_head_record_failed', code: 'TIQ_ERR_CONTROL_STORE', seq: head.seq, reason: (err as Error).message }, 'cannot record the audit head in the control store');
      }
    }
  }
}
