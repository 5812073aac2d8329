/**
 * `thingiq records replay` when no gateway runs on the data directory: the
 * same pages as the API's, read from the sinks under the data directory's
 * lock, as the local operator (the whole tenant, restricted devices left
 * out), and audited like the API's read with an `offline` detail.
 */
import { RestrictionRegistry } from '../admin/restriction-registry.ts';
import { cursorAt, decodeCursor, encodeCursor, largestTimeStep, replayHorizon, replayPage, type ReplaySource } from '../admin/record-replay.ts';
import type { OpenedStorage } from '../gateway/open-storage.ts';
import type { DecodeRecord, OpenRecord } from '../sinks/record-export.ts';
import type { OfflineState } from './state-path.ts';

export interface OfflineReplay {
  readonly tenant: string;
  readonly cursor?: string | undefined;
  readonly fromMs?: number | undefined;
  readonly limit: number;
  readonly device?: string | undefined;
  readonly stream?: string | undefined;
}

const PAGE = 1000;

export async function replayOffline(
  storage: OpenedStorage, state: OfflineState, r: OfflineReplay, io: { openRecord: OpenRecord; decode: DecodeRecord; print: (text: string) => void },
): Promise<void> {
  const { config } = storage;
  const restrictions = new RestrictionRegistry(storage.control);
  const src: ReplaySource = {
    sink: (t) => storage.router.sinkFor(t), openRecord: io.openRecord, decode: io.decode,
    // No writer here: only the settle time and the policy's time step hold the horizon back (another gateway may share a PostgreSQL sink).
    horizon: replayHorizon({
      now: Date.now, settleMs: config.admin.replaySettleMs, oldestPending: () => undefined,
      timeStepMs: (t) => largestTimeStep(config.tenants[t]?.privacy ?? config.privacy),
    }),
  };
  const start = r.cursor !== undefined ? decodeCursor(r.cursor) : cursorAt(r.fromMs ?? 0);
  await state.audited({ action: 'records.replay', tenant: r.tenant }, async () => {
    let next = start;
    let count = 0;
    let more = true;
    while (more && count < r.limit) {
      const page = await replayPage(src, {
        tenantId: r.tenant, start: next, limit: Math.min(PAGE, r.limit - count), deviceId: r.device, stream: r.stream,
        mayRead: (d) => restrictions.isRestricted(r.tenant, d) === 'none',
      }, async (line) => io.print(line));
      next = page.next;
      count += page.count;
      more = page.more;
    }
    io.print(`${JSON.stringify({ type: 'end', count, nextCursor: encodeCursor(next), more })}\n`);
    return { result: undefined, note: `from=${encodeCursor(start)} next=${encodeCursor(next)} records=${count}` };
  });
}
