/**
 * A small client of the admin API for the CLI: HTTPS with the gateway's CA
 * (never without verification), an operator certificate or a bearer token.
 * Error answers become TiqErrors carrying the server's code.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { Writable } from 'node:stream';
import { ERROR_CATALOGUE, TiqError, type ErrorCode } from '../errors.ts';

export interface AdminClientOptions {
  /** e.g. https://localhost:8444 (certificates) or https://localhost:8443 (tokens). */
  readonly url: string;
  /** PEM files. */
  readonly caFile: string;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly token?: string | undefined;
  /** Verify the server certificate against this name instead of the URL's host. */
  readonly servername?: string | undefined;
}

export class AdminClient {
  private readonly ca: string;
  private readonly cert: string | undefined;
  private readonly key: string | undefined;

  constructor(private readonly o: AdminClientOptions) {
    this.ca = readFileSync(o.caFile, 'utf8');
    this.cert = o.certFile ? readFileSync(o.certFile, 'utf8') : undefined;
    this.key = o.keyFile ? readFileSync(o.keyFile, 'utf8') : undefined;
  }

  async json(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    await this.send(method, path, body, { write: (c: Buffer) => chunks.push(c) });
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** Streams a successful answer into `out` (exports). */
  async stream(method: string, path: string, out: Writable): Promise<void> {
    await this.send(method, path, undefined, { write: (c: Buffer) => out.write(c) });
  }

  private send(method: string, path: string, body: unknown, sink: { write(c: Buffer): unknown }): Promise<void> {
    const url = new URL(path, this.o.url);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, {
        method, ca: this.ca, cert: this.cert, key: this.key, agent: false,
        ...(this.o.servername ? { servername: this.o.servername } : {}),
        headers: {
          ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      }, (res) => {
        const status = res.statusCode ?? 0;
        const errorChunks: Buffer[] = [];
        res.on('data', (c: Buffer) => (status < 400 ? sink.write(c) : errorChunks.push(c)));
        res.on('end', () => (status < 400 ? resolve() : reject(answerError(status, Buffer.concat(errorChunks).toString('utf8')))));
        res.on('error', reject);
      });
      req.on('error', (err) => reject(new TiqError('TIQ_ERR_UNAUTHENTICATED', `cannot reach ${url.origin}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }
}

function answerError(status: number, text: string): TiqError {
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; problems?: string[] };
    if (body.code && body.code in ERROR_CATALOGUE) {
      return new TiqError(body.code as ErrorCode, body.problems ? { problems: body.problems } : undefined);
    }
  } catch {
    // not JSON: fall through
  }
  return new TiqError('TIQ_ERR_INTERNAL', `HTTP ${status}`);
}
