/**
 * The live overview: one snapshot (`GET /v1/overview`) or a server-sent
 * event stream of them (`GET /v1/overview/stream`, WHATWG HTML 9.2), one
 * event every `intervalMs`. A stream opened by a console session ends when
 * that session does (sign-out, idle or absolute timeout).
 */
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { principalOf } from '../route-access.ts';
import { parseInput, route, type RouteContext } from '../routes/route.ts';
import { overviewSnapshot } from './overview.ts';
import { sessionOf } from './session-auth.ts';
import type { SessionStore } from './sessions.ts';

const StreamQuery = z.object({ intervalMs: z.coerce.number().int().min(500).max(60_000).default(2000) }).strict();

export function registerOverviewRoutes({ app, deps }: RouteContext, sessions: SessionStore): void {
  route(app, 'GET', '/v1/overview', { needs: 'tenant-reader', action: 'overview.get' }, async (request) => overviewSnapshot(deps, principalOf(request)));

  // Open streams end when the server closes: close() waits for open requests.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const stop of open) stop();
  });

  route(app, 'GET', '/v1/overview/stream', { needs: 'tenant-reader', action: 'overview.stream' }, async (request, reply) => {
    const { intervalMs } = parseInput(StreamQuery, request.query);
    const principal = principalOf(request);
    const viaSession = principal.via === 'session';
    const out = new PassThrough();
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      open.delete(stop);
      if (!out.writableEnded) out.end();
    };
    const tick = async () => {
      timer = undefined;
      try {
        // Reading the session does not refresh it: an open overview does not keep an idle person signed in.
        if (viaSession && !stillSignedIn(() => sessionOf(request, sessions, false))) return stop();
        out.write(`event: snapshot\ndata: ${JSON.stringify(await overviewSnapshot(deps, principal))}\n\n`);
      } catch (err) {
        request.log.warn({ err }, 'overview snapshot failed');
        out.write(`event: error\ndata: ${JSON.stringify({ code: 'TIQ_ERR_INTERNAL' })}\n\n`);
      }
      if (!out.writableEnded) timer = setTimeout(() => void tick(), intervalMs);
    };
    request.raw.on('close', stop);
    open.add(stop);
    reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-store').header('x-accel-buffering', 'no');
    out.write(`retry: ${intervalMs}\n\n`);
    void tick();
    return reply.send(out);
  });
}

function stillSignedIn(read: () => unknown): boolean {
  try {
    return read() !== undefined;
  } catch {
    return false;
  }
}
