/**
 * One HTTPS call to the admin API, as tests make it: the gateway's CA as the
 * only trust anchor (verification is never turned off), a client certificate
 * for the mTLS listener or a bearer token for the token listener.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';

export interface AdminCredentials {
  /** PEM of the CA that signed the gateway's server certificate. */
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  /** Sent as `Authorization: Bearer …`. */
  readonly token?: string;
}

export interface AdminAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json(): Record<string, unknown>;
  /** The body as NDJSON: one parsed object per non-empty line. */
  lines(): Record<string, unknown>[];
}

export function adminCall(port: number, who: AdminCredentials, method: string, path: string, body?: unknown): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (who.token !== undefined) headers['authorization'] = `Bearer ${who.token}`;
    const req = request({
      host: '127.0.0.1', port, method, path, ca: who.ca, servername: 'localhost', agent: false, headers,
      ...(who.cert !== undefined ? { cert: who.cert, key: who.key } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, text,
          json: () => JSON.parse(text) as Record<string, unknown>,
          lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
        });
      });
    });
    req.on('error', reject);
    req.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
}

export interface AdminStream {
  readonly status: Promise<number>;
  /** NDJSON lines received so far, parsed. */
  readonly lines: Record<string, unknown>[];
  /** Resolves once `pred` holds for the lines received, or rejects after timeoutMs. */
  until(pred: (lines: Record<string, unknown>[]) => boolean, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  /** Disconnects, as a client that goes away. */
  close(): void;
}

/** A long-running GET (a follow), its lines parsed as they arrive. */
export function adminStream(port: number, who: AdminCredentials, path: string): AdminStream {
  const lines: Record<string, unknown>[] = [];
  let rest = '';
  const waiters = new Set<() => void>();
  let answered: (status: number) => void = () => undefined;
  let failed: (err: Error) => void = () => undefined;
  const status = new Promise<number>((resolve, reject) => { answered = resolve; failed = reject; });
  const headers: Record<string, string> = who.token !== undefined ? { authorization: `Bearer ${who.token}` } : {};
  const req = request({
    host: '127.0.0.1', port, method: 'GET', path, ca: who.ca, servername: 'localhost', agent: false, headers,
    ...(who.cert !== undefined ? { cert: who.cert, key: who.key } : {}),
  }, (res) => {
    answered(res.statusCode ?? 0);
    res.on('data', (d: Buffer) => {
      const parts = (rest + d.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts.filter(Boolean)) lines.push(JSON.parse(p) as Record<string, unknown>);
      for (const w of [...waiters]) w();
    });
    res.on('error', () => undefined);
  });
  req.on('error', (err) => failed(err));
  req.end();
  return {
    status, lines,
    until(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pred(lines)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(lines);
        };
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out with ${lines.length} lines`)); }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => req.destroy(),
  };
}
