/**
 * Replay and tail of a tenant's stored records for its applications
 * (docs/storage.md, "Replay"): decrypted, as stored (policy-applied), within
 * the caller's grants, without restricted devices, as NDJSON.
 *
 * Each request is audited once, by itself (the routes are `quiet` for the
 * access stage): actor, tenant, cursor range and count, never payloads. A
 * page's closing `end` line is written only after its entry is on disk, so a
 * page without it was not audited and must be asked again.
 */
import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import type { AdminDeps } from '../admin-deps.ts';
import type { Principal } from '../principal.ts';
import {
  cursorAt, decodeCursor, encodeCursor, endLine, replayPage, type ReplayCursor, type ReplayPage, type ReplayRequest, type ReplaySource,
} from '../record-replay.ts';
import { principalOf } from '../route-access.ts';
import { IdSchema, idsOf, parseInput, route, type RouteContext } from './route.ts';

const BaseQuery = z.object({
  /** `nextCursor` of an earlier page, or the `cursor` of a record line. */
  cursor: z.string().min(1).max(200).optional(),
  /** Received at or after: ISO 8601 or epoch milliseconds. */
  from: z.string().min(1).max(40).optional(),
  device: IdSchema.optional(),
  stream: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/).optional(),
});
const ReplayQuery = BaseQuery.extend({ limit: z.coerce.number().int().min(1).max(10_000).default(1000) }).strict();
/** `durationMs`: end the follow after this long with an `end` line (a long poll); without it, until the client leaves. */
const TailQuery = BaseQuery.extend({ durationMs: z.coerce.number().int().min(1).max(86_400_000).optional() }).strict();

type Query = z.infer<typeof BaseQuery>;
const TAIL_PAGE = 500;

function parseFrom(text: string): number {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: ['from: an ISO 8601 time or epoch milliseconds'] });
  return ms;
}

function startOf(q: Query, otherwise: () => ReplayCursor): ReplayCursor {
  if (q.cursor !== undefined && q.from !== undefined) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: ['cursor, from: give one of them'] });
  if (q.cursor !== undefined) return decodeCursor(q.cursor);
  return q.from !== undefined ? cursorAt(parseFrom(q.from)) : otherwise();
}

/**
 * What the caller may read: an app only the streams and device groups of its
 * grant (as for its MQTT subscriptions); a role (token, operator) the whole
 * tenant. Never a device whose processing is restricted (GDPR Art. 18).
 */
function readFilter(deps: AdminDeps, p: Principal, tenant: string): ReplayRequest['mayRead'] {
  const view = deps.tenants.get(tenant);
  const grant = p.appId !== undefined ? view?.apps[p.appId] : undefined;
  if (p.appId !== undefined && (grant === undefined || p.tenantId !== tenant)) return () => false;
  const streams = grant?.streams ? new Set(grant.streams) : undefined;
  const devices = grant?.deviceGroups ? new Set(grant.deviceGroups.flatMap((g) => view?.deviceGroups[g] ?? [])) : undefined;
  return (d, s) => (streams === undefined || streams.has(s)) && (devices === undefined || devices.has(d))
    && deps.restrictions.isRestricted(tenant, d) === 'none';
}

/** NDJSON into the reply at the client's pace; writes after the client left are dropped. */
class LineStream {
  readonly body = new PassThrough();
  #closed = false;
  #wakers = new Set<() => void>();

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => { this.#closed = true; this.wakeAll(); });
  }

  get closed(): boolean { return this.#closed; }

  /** The server is closing: the follow ends its answer (and is audited) instead of holding the close. */
  stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.wakeAll();
    this.body.end();
  }

  async write(line: string): Promise<void> {
    if (this.#closed || this.body.write(line)) return;
    await this.until((wake) => this.body.once('drain', wake), (wake) => this.body.off('drain', wake));
  }

  /** Resolves after ms, or at once when the client leaves. */
  sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return this.until((wake) => { timer = setTimeout(wake, ms); }, () => clearTimeout(timer));
  }

  private until(arm: (wake: () => void) => void, disarm: (wake: () => void) => void): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => { this.#wakers.delete(wake); disarm(wake); resolve(); };
      this.#wakers.add(wake);
      arm(wake);
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

function sourceOf(deps: AdminDeps): ReplaySource {
  if (!deps.replay) throw new TiqError('TIQ_ERR_NOT_FOUND');
  return deps.replay;
}

interface Served { readonly from: ReplayCursor; readonly next: ReplayCursor; readonly count: number }

async function audit(deps: AdminDeps, request: FastifyRequest, action: string, q: Query, s: Served, result: 'ok' | 'failed'): Promise<void> {
  const p = principalOf(request);
  const { tenant } = idsOf(request);
  const filters = [q.device !== undefined ? `device=${deps.audit.pseudonyms.device(tenant, q.device)}` : '', q.stream !== undefined ? `stream=${q.stream}` : ''];
  const detail = [`from=${encodeCursor(s.from)}`, `next=${encodeCursor(s.next)}`, `records=${s.count}`, ...filters].filter(Boolean).join(' ');
  await deps.audit.commit({ actor: p.actor, role: p.role, action, target: `tenant:${tenant}`, tenant, result, detail });
}

function ndjson(reply: FastifyReply, out: LineStream): FastifyReply {
  return reply.header('content-type', 'application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(out.body);
}

function requestOf(deps: AdminDeps, request: FastifyRequest, q: Query, start: ReplayCursor, limit: number): ReplayRequest {
  const { tenant } = idsOf(request);
  return { tenantId: tenant, start, limit, deviceId: q.device, stream: q.stream, mayRead: readFilter(deps, principalOf(request), tenant) };
}

export function registerRecordRoutes({ app, deps, config }: RouteContext): void {
  // Open follows, and their completion (audit entry written): a closing server ends them and waits for that.
  const tails = new Map<LineStream, Promise<void>>();
  app.addHook('preClose', async () => {
    for (const t of tails.keys()) t.stop();
    await Promise.all(tails.values());
  });
  route(app, 'GET', '/v1/tenants/:tenant/records', { needs: 'tenant-reader', action: 'records.replay', quiet: true }, async (request, reply) => {
    const src = sourceOf(deps);
    const q = parseInput(ReplayQuery, request.query);
    const start = startOf(q, () => cursorAt(0));
    const out = new LineStream(reply.raw);
    void (async () => {
      let page: ReplayPage | undefined;
      try {
        page = await replayPage(src, requestOf(deps, request, q, start, q.limit), (l) => out.write(l), () => out.closed);
        await audit(deps, request, 'records.replay', q, { from: start, next: page.next, count: page.count }, 'ok');
        await out.write(endLine(page));
        out.body.end();
      } catch (err) {
        request.log.error({ event: 'replay_failed', code: (err as TiqError).code }, 'replay failed part-way');
        if (!page) await audit(deps, request, 'records.replay', q, { from: start, next: start, count: 0 }, 'failed').catch(() => undefined);
        out.body.destroy(err as Error);
      }
    })();
    return ndjson(reply, out);
  });

  route(app, 'GET', '/v1/tenants/:tenant/records/tail', { needs: 'tenant-reader', action: 'records.tail', quiet: true }, async (request, reply) => {
    const src = sourceOf(deps);
    const q = parseInput(TailQuery, request.query);
    const { tenant } = idsOf(request);
    const start = startOf(q, () => cursorAt(src.horizon(tenant)));
    const out = new LineStream(reply.raw);
    // A heartbeat well inside the idle timeout keeps a quiet follow open, and tells the client where it stands.
    const heartbeatMs = Math.max(100, Math.min(10_000, Math.floor(config.idleTimeoutMs / 3)));
    const until = q.durationMs !== undefined ? Date.now() + q.durationMs : Number.POSITIVE_INFINITY;
    const done = (async () => {
      let served: Served | undefined;
      try {
        served = await follow(src, requestOf(deps, request, q, start, TAIL_PAGE), out, { pollMs: config.tailPollMs, heartbeatMs, until });
        await audit(deps, request, 'records.tail', q, served, 'ok');
        // Like a page: the end line only once audited (a client that left, or a server closing, gets none).
        if (!out.closed) {
          await out.write(`${JSON.stringify({ type: 'end', count: served.count, nextCursor: encodeCursor(served.next), more: false })}\n`);
          out.body.end();
        }
      } catch (err) {
        request.log.error({ event: 'tail_failed', code: (err as TiqError).code }, 'tail failed');
        out.body.destroy(err as Error);
        if (!served) await audit(deps, request, 'records.tail', q, { from: start, next: start, count: 0 }, 'failed').catch(() => undefined);
      }
    })().finally(() => tails.delete(out));
    tails.set(out, done);
    return ndjson(reply, out);
  });
}

/**
 * Pages while there is more, then polls; a heartbeat line when nothing was
 * written for a while. Ends when the client leaves, the server closes, or at `until`.
 */
async function follow(src: ReplaySource, req: ReplayRequest, out: LineStream, o: { pollMs: number; heartbeatMs: number; until: number }): Promise<Served> {
  let next = req.start;
  let count = 0;
  let lastWrite = Date.now();
  const write = (line: string) => { lastWrite = Date.now(); return out.write(line); };
  const over = () => out.closed || Date.now() >= o.until;
  while (!over()) {
    const page = await replayPage(src, { ...req, start: next }, write, over);
    next = page.next;
    count += page.count;
    if (page.more) continue;
    if (Date.now() - lastWrite >= o.heartbeatMs) {
      await write(`${JSON.stringify({ type: 'heartbeat', nextCursor: encodeCursor(next), horizon: new Date(page.horizonMs).toISOString() })}\n`);
    }
    await out.sleep(Math.max(0, Math.min(o.pollMs, o.until - Date.now())));
  }
  return { from: req.start, next, count };
}
