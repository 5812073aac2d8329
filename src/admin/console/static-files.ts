/**
 * The console's built files (`npm run build` writes them to dist/console/),
 * served under /console/ on the bearer listener. Only files found in that
 * folder are served, by exact path: no request path reaches the file system.
 * The page holds no data; every datum comes from the API with the session.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TiqError } from '../../errors.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
};

/** Same-origin everything; no inline script; never framed (clickjacking). */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** dist/console beside the compiled server (dist/admin/console/), or the repository's dist/console when run from src/. */
export function defaultConsoleDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const compiled = join(here, '..', '..', 'console');
  return existsSync(join(compiled, 'index.html')) ? compiled : join(here, '..', '..', '..', 'dist', 'console');
}

function listFiles(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.set(`/console/${relative(dir, full).split(sep).join('/')}`, { body: readFileSync(full), type: TYPES[extname(name)] ?? 'application/octet-stream' });
    }
  };
  if (existsSync(dir)) walk(dir);
  return files;
}

export function registerStaticFiles(app: FastifyInstance, dir: string, onBearerListener: (request: FastifyRequest) => boolean): void {
  let files: Map<string, { body: Buffer; type: string }> | undefined;
  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!onBearerListener(request)) throw new TiqError('TIQ_ERR_NOT_FOUND');
    files ??= listFiles(dir);
    const path = request.url.split(/[?#]/)[0]!;
    if (path === '/console') return reply.redirect('/console/', 301);
    const file = files.get(path === '/console/' ? '/console/index.html' : path);
    if (!file) throw new TiqError('TIQ_ERR_NOT_FOUND');
    // Hashed asset names change with their content; the page itself is always fetched anew.
    const immutable = path.startsWith('/console/assets/');
    reply.header('content-type', file.type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    return reply.send(file.body);
  };
  app.get('/console', serve);
  app.get('/console/*', serve);
}
