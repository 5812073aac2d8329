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
        stage.answered = true;
        const status = res.statusCode ?? 0;
        const errorChunks: Buffer[] = [];
        res.on('data', (c: Buffer) => (status < 400 ? sink.write(c) : errorChunks.push(c)));
        res.on('end', () => (status < 400 ? resolve() : reject(answerError(status, Buffer.concat(errorChunks).toString('utf8')))));
        res.on('error', reject);
      });
      const stage = { tcp: false, tls: false, answered: false, clientCert: this.cert !== undefined };
      req.on('socket', (socket) => {
        socket.once('connect', () => { stage.tcp = true; });
        socket.once('secureConnect', () => { stage.tls = true; });
      });
      req.on('error', (err) => reject(transportError(err, stage, url.origin)));
      req.end(payload);
    });
  }
}

export interface TransportStage {
  readonly tcp: boolean;
  readonly tls: boolean;
  /** An HTTP answer started. */
  readonly answered: boolean;
  /** A client certificate was offered. */
  readonly clientCert: boolean;
}

/** TLS failures reported by OpenSSL or Node's certificate checks (server not trusted, name mismatch, client certificate refused). */
const TLS_ERROR = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_)/;

/**
 * A failure before any HTTP answer: the network (nothing listening, unknown
 * host, reset, timeout) and TLS (the gateway's certificate does not verify
 * against --ca, or the gateway refused ours) are different problems with
 * different fixes, and neither is a refused credential (that is an HTTP 401).
 */
export function transportError(err: NodeJS.ErrnoException, stage: TransportStage, origin: string): TiqError {
  const code = err.code ?? '';
  const hungUp = code === 'ECONNRESET' || code === 'EPIPE';
  // A peer that hangs up during the handshake refused it. With TLS 1.3 the server checks a client certificate
  // after the client considers the handshake done, so a hang-up before any answer means the same then.
  if (TLS_ERROR.test(code) || (stage.tcp && hungUp && (!stage.tls || (stage.clientCert && !stage.answered)))) {
    return new TiqError('TIQ_ERR_TLS_HANDSHAKE', `with ${origin}: ${code || err.message}`, { cause: err });
  }
  return new TiqError('TIQ_ERR_UNREACHABLE', `${origin}: ${code || err.message}`, { cause: err });
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
