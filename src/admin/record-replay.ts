/**
 * Replay of a tenant's stored records from a cursor, for the tenant's
 * applications catching up after downtime (docs/storage.md, "Replay").
 *
 * Pages walk the sink's keyset (receivedAtMs, recordId), the order of the
 * time index both sinks have, a sub-page at a time: nothing is loaded
 * beyond one sub-page, and each line waits for the consumer (backpressure).
 *
 * A keyset alone is not stable while records arrive: a record's stored time
 * is when the gateway received it (floored by the policy's time step), and a
 * record committed after a page was read may sort before that page's end
 * (the same millisecond with a smaller random id, or a record that sat in
 * the writer while the sink was down). So a page only reads below the
 * tenant's horizon: the time before which every record is committed or will
 * never be (ReplaySource.horizon). A record at or past the horizon is left
 * for a later page, which then finds it; none is skipped or read twice.
 */
import { isTiqError, TiqError } from '../errors.ts';
import type { SealedRecord } from '../records/message.ts';
import { json, toRow, type DecodeRecord, type OpenRecord } from '../sinks/record-export.ts';
import type { StorageSink } from '../sinks/storage-sink.ts';

/** A position in the keyset: the records after it come next. recordId '' stands before every record of that millisecond. */
export interface ReplayCursor {
  readonly receivedAtMs: number;
  readonly recordId: string;
}

export interface ReplaySource {
  sink(tenantId: string): Pick<StorageSink, 'queryRecords'>;
  readonly openRecord: OpenRecord;
  readonly decode: DecodeRecord;
  /** Every record of the tenant received before this time (ms) is committed or never will be. */
  horizon(tenantId: string): number;
}

export interface ReplayRequest {
  readonly tenantId: string;
  readonly start: ReplayCursor;
  readonly limit: number;
  /** Narrowing filters pushed into the query. */
  readonly deviceId?: string | undefined;
  readonly stream?: string | undefined;
  /** The caller's grants and restrictions: false hides the record. */
  readonly mayRead: (deviceId: string, stream: string) => boolean;
}

export interface ReplayPage {
  readonly count: number;
  /** Where the next page starts: after the last record read, shown or not. */
  readonly next: ReplayCursor;
  /** More records may be below the horizon already: ask again at once. */
  readonly more: boolean;
  readonly horizonMs: number;
}

const CURSOR_PREFIX = 'c1.';
const SUB_PAGE = 200;
/** Records read (hidden ones included) per page at most, so a narrow grant cannot make one request scan the tenant. */
const SCAN_FACTOR = 20;

export function encodeCursor(c: ReplayCursor): string {
  return CURSOR_PREFIX + Buffer.from(`${c.receivedAtMs}.${c.recordId}`, 'utf8').toString('base64url');
}

/** TIQ_ERR_BAD_REQUEST for anything encodeCursor did not make. */
export function decodeCursor(text: string): ReplayCursor {
  const bad = () => new TiqError('TIQ_ERR_BAD_REQUEST', { problems: ['cursor: not a cursor this API returned'] });
  if (!text.startsWith(CURSOR_PREFIX) || text.length > 200) throw bad();
  const m = /^(\d{1,16})\.([0-9a-f-]{0,36})$/.exec(Buffer.from(text.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8'));
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw bad();
  return { receivedAtMs: Number(m[1]), recordId: m[2]! };
}

/** The cursor of a time: every record received at or after it. */
export function cursorAt(ms: number): ReplayCursor {
  return { receivedAtMs: ms, recordId: '' };
}

/** One NDJSON line per record: the export's fields, its type and the cursor that resumes after it. */
export function recordLine(r: SealedRecord, data: object): string {
  return `${json({ type: 'record', cursor: encodeCursor({ receivedAtMs: r.receivedAtMs, recordId: r.recordId }), ...toRow(r, data) })}\n`;
}

/** Decrypts and decodes, or undefined when the record's key was destroyed (an erasure): that data is gone. */
async function openOrSkip(src: ReplaySource, r: SealedRecord): Promise<string | undefined> {
  let payload: Buffer;
  try {
    payload = await src.openRecord(r);
  } catch (err) {
    if (isTiqError(err) && err.code === 'TIQ_ERR_KEY_SHREDDED') return undefined;
    throw err;
  }
  const line = recordLine(r, src.decode(r.stream, payload, r.encoding));
  // Zeroed only after formatting: decoded bytes fields may share the buffer.
  payload.fill(0);
  return line;
}

/**
 * Emits up to `limit` readable records after `start` and below the horizon,
 * one `emit` per line (awaited: the consumer's pace). `stopped` ends the page early.
 */
export async function replayPage(
  src: ReplaySource, req: ReplayRequest, emit: (line: string) => Promise<void>, stopped: () => boolean = () => false,
): Promise<ReplayPage> {
  const horizonMs = src.horizon(req.tenantId);
  const sink = src.sink(req.tenantId);
  let next = req.start;
  let count = 0;
  let scanned = 0;
  const maxScan = req.limit * SCAN_FACTOR;
  for (;;) {
    const page = await sink.queryRecords({
      tenantId: req.tenantId, after: next, toMs: horizonMs, limit: SUB_PAGE,
      ...(req.deviceId !== undefined ? { deviceId: req.deviceId } : {}), ...(req.stream !== undefined ? { stream: req.stream } : {}),
    });
    for (const r of page) {
      if (count >= req.limit || stopped()) return { count, next, more: true, horizonMs };
      scanned++;
      const line = req.mayRead(r.deviceId, r.stream) ? await openOrSkip(src, r) : undefined;
      if (line !== undefined) {
        await emit(line);
        count++;
      }
      next = { receivedAtMs: r.receivedAtMs, recordId: r.recordId };
    }
    if (page.length < SUB_PAGE) return { count, next, more: false, horizonMs };
    if (count >= req.limit || scanned >= maxScan || stopped()) return { count, next, more: true, horizonMs };
  }
}

/** The line that ends a page: how many records, where to resume, and whether to ask again at once. */
export function endLine(page: ReplayPage): string {
  return `${JSON.stringify({ type: 'end', count: page.count, nextCursor: encodeCursor(page.next), more: page.more, horizon: new Date(page.horizonMs).toISOString() })}\n`;
}

export interface HorizonInputs {
  readonly now: () => number;
  /** How long a record may take from reception to the writer's queue (decode, policy, encryption, a key-provider call). */
  readonly settleMs: number;
  /** The largest time step of the tenant's privacy policy in force: stored times are floored to it. */
  readonly timeStepMs: (tenantId: string) => number;
  /** The earliest receivedAtMs still waiting in the tenant's sink writer, if any. */
  readonly oldestPending: (tenantId: string) => number | undefined;
}

/**
 * A record not yet received will be stored with a time of at least now minus
 * the time step; one between reception and the writer, at least now minus
 * settle and step; one in the writer is known. Below the smallest of these,
 * the sink holds everything it ever will.
 */
export function replayHorizon(i: HorizonInputs): (tenantId: string) => number {
  return (tenantId) => {
    const bound = i.now() - i.settleMs - i.timeStepMs(tenantId);
    const pending = i.oldestPending(tenantId);
    return pending === undefined ? bound : Math.min(bound, pending);
  };
}

/** The largest `timeStepMs` anywhere in a raw privacy policy (defaults, groups, devices, private mode), 0 without one. */
export function largestTimeStep(policy: unknown, depth = 0): number {
  if (typeof policy !== 'object' || policy === null || depth > 12) return 0;
  let step = 0;
  for (const [k, v] of Object.entries(policy)) {
    if (k === 'timeStepMs' && typeof v === 'number' && Number.isFinite(v)) step = Math.max(step, v);
    else step = Math.max(step, largestTimeStep(v, depth + 1));
  }
  return step;
}
