/**
 * The optional scrape listener: plain HTTP on a loopback address, GET
 * /metrics only, no credentials. It lets a Prometheus server or agent on the
 * same host scrape without an operator token (the admin API's /metrics
 * needs one). The configuration refuses non-loopback addresses.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { TiqError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsListener(opts: { host: string; port: number }, registry: Registry, log: Logger): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        log.error({ event: 'metrics_failed', err: err instanceof Error ? err.message : String(err) }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      });
  });
  // A scraper that stalls must not hold sockets for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 16;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new TiqError('TIQ_ERR_LISTEN',
      err.code === 'EADDRINUSE' ? `port ${opts.port} is already in use` : `${err.code ?? ''} ${err.message}`, { cause: err })));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ event: 'metrics_listening', host: opts.host, port }, 'metrics listener (loopback, no authentication) ready');
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
