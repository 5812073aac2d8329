/**
 * TLS session-ticket keys shared by every node of a cluster, so a device
 * that made its session on one node resumes it (no certificate exchange,
 * no signature) on whichever node the load balancer picks next.
 *
 * Nodes agree without talking: each derives the keys of the current period
 * (`floor(now / rotationS)`) from the shared secret with HKDF-SHA256
 * (RFC 5869), and re-derives them at each period boundary. Clocks a few
 * seconds apart only matter at the boundary, where the previous key is still
 * accepted (below).
 *
 * Node's public API holds one ticket key per server (`setTicketKeys`): a
 * ticket issued just before a boundary would then not resume after it. Node
 * also has a per-handshake ticket key callback on its secure context (the
 * one its own test suite uses for ticket renewal); where present, it issues
 * tickets with the current key and accepts the current and the previous one
 * (a ticket of the previous period is renewed with the current key). Where
 * it is missing, the current key alone is set and a ticket from before the
 * last boundary costs a full handshake, nothing more. Tickets live at most
 * one period (`sessionTimeout`), so with both keys every live ticket resumes.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Server } from 'node:tls';
import { TiqError } from '../errors.ts';

/** Shortest secret accepted: 256 bits, the strength of the derived keys' HMAC. */
export const MIN_TICKET_SECRET_BYTES = 32;
const MAX_TICKET_SECRET_BYTES = 4096;
const PART = 16;
const SALT = 'thingiq tls session tickets v1';
const SETTING = 'cluster.sessionTickets.secretFile';

/** The 48 bytes of one period's key: name (sent in the ticket), HMAC key, AES key (Node's setTicketKeys layout). */
export interface TicketKey {
  readonly period: number;
  readonly bytes: Buffer;
}

export function periodAt(nowMs: number, rotationS: number): number {
  return Math.floor(nowMs / (rotationS * 1000));
}

export function deriveTicketKey(secret: Buffer, period: number): TicketKey {
  const bytes = Buffer.from(hkdfSync('sha256', secret, SALT, `period ${period}`, 3 * PART));
  return { period, bytes };
}

/**
 * Reads the shared secret: a regular file, readable by its owner only, of
 * at least 32 bytes (trailing whitespace, such as the newline of a file
 * written by `openssl rand -hex 32`, is not part of it). Throws
 * TIQ_ERR_CONFIG saying what is wrong, never what the file holds.
 */
export function readTicketSecret(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new TiqError('TIQ_ERR_CONFIG', { setting: SETTING, reason: `cannot open the secret file (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TiqError('TIQ_ERR_CONFIG', { setting: SETTING, reason: 'not a regular file' });
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new TiqError('TIQ_ERR_CONFIG', { setting: SETTING, reason: `mode ${(st.mode & 0o777).toString(8)}: readable by others than its owner (chmod 600)` });
    }
    const buf = Buffer.alloc(MAX_TICKET_SECRET_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_TICKET_SECRET_BYTES) throw new TiqError('TIQ_ERR_CONFIG', { setting: SETTING, reason: `longer than ${MAX_TICKET_SECRET_BYTES} bytes` });
    let end = n;
    while (end > 0 && [0x20, 0x09, 0x0a, 0x0d].includes(buf[end - 1]!)) end--;
    if (end < MIN_TICKET_SECRET_BYTES) throw new TiqError('TIQ_ERR_CONFIG', { setting: SETTING, reason: `${end} bytes; at least ${MIN_TICKET_SECRET_BYTES} are needed` });
    return Buffer.from(buf.subarray(0, end));
  } finally {
    closeSync(fd);
  }
}

/** What a TLS server needs to take part, by listener: a session id context shared by every node, and the ticket lifetime. */
export interface TicketTlsOptions {
  readonly sessionIdContext: string;
  readonly sessionTimeout: number;
}

type TicketCallbackResult = [number, Buffer, Buffer, Buffer?, Buffer?];

/** Node's native secure context, where it offers the per-handshake ticket key callback. */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => TicketCallbackResult;
}

const ZERO = Buffer.alloc(PART);

export class SessionTicketKeys {
  private current: TicketKey;
  private previous: TicketKey;
  private readonly fallbackServers = new Set<Server>();
  private timer: NodeJS.Timeout | undefined;

  /** `previousKey: false` uses Node's public single-key API even where the callback exists (to compare, in tests). */
  constructor(private readonly secret: Buffer, readonly rotationS: number, private readonly now: () => number = Date.now,
    private readonly opts: { readonly previousKey?: boolean } = {}) {
    const p = periodAt(now(), rotationS);
    this.current = deriveTicketKey(secret, p);
    this.previous = deriveTicketKey(secret, p - 1);
  }

  /**
   * TLS options for a listener. OpenSSL resumes a session only on a server
   * with the same session id context; Node's default differs per process
   * command line, so the cluster's is fixed, one per kind of listener (a
   * ticket from one port does not resume on another).
   */
  tlsOptions(listener: string): TicketTlsOptions {
    return { sessionIdContext: `thingiq-${listener}`.slice(0, 32), sessionTimeout: this.rotationS };
  }

  /** Makes a TLS server issue and accept the cluster's tickets. Returns how: both keys, or the current one alone. */
  attach(server: Server): 'current-and-previous' | 'current-only' {
    const context = (server as unknown as { _sharedCreds?: { context?: NativeContext } })._sharedCreds?.context;
    if (this.opts.previousKey !== false && context && typeof context.enableTicketKeyCallback === 'function') {
      context.enableTicketKeyCallback();
      context.onticketkeycallback = (name, _iv, encrypt) => this.ticketKey(name, encrypt);
      return 'current-and-previous';
    }
    this.fallbackServers.add(server);
    server.setTicketKeys(this.current.bytes);
    return 'current-only';
  }

  /**
   * The callback's answer (OpenSSL's ticket key callback contract): to
   * encrypt, the current key with its name and a fresh IV (1); to decrypt,
   * the key named in the ticket: current (1), previous (2: accept and issue
   * a new ticket), unknown (0: a full handshake). It must not throw: it runs
   * inside the handshake.
   */
  private ticketKey(name: Buffer, encrypt: boolean): TicketCallbackResult {
    const { current, previous } = this;
    if (encrypt) return [1, hmacPart(current), aesPart(current), namePart(current), randomBytes(PART)];
    if (name.equals(namePart(current))) return [1, hmacPart(current), aesPart(current)];
    if (name.equals(namePart(previous))) return [2, hmacPart(previous), aesPart(previous)];
    return [0, ZERO, ZERO];
  }

  /** The period of the key tickets are issued with now. */
  get period(): number {
    return this.current.period;
  }

  /** Re-derives the keys for the clock's current period (the timer calls it at each boundary). */
  refresh(): void {
    const p = periodAt(this.now(), this.rotationS);
    if (p === this.current.period) return;
    this.previous = p === this.current.period + 1 ? this.current : deriveTicketKey(this.secret, p - 1);
    this.current = deriveTicketKey(this.secret, p);
    for (const server of this.fallbackServers) server.setTicketKeys(this.current.bytes);
  }

  /** Milliseconds until the next period starts. */
  msToNextPeriod(): number {
    const periodMs = this.rotationS * 1000;
    return periodMs - (this.now() % periodMs);
  }

  /** Re-derives at each boundary until closed; the timer does not keep the process alive. */
  start(): this {
    const tick = (): void => {
      this.refresh();
      // A little past the boundary, so a timer firing early never re-derives the same period.
      this.timer = setTimeout(tick, this.msToNextPeriod() + 50);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, this.msToNextPeriod() + 50);
    this.timer.unref();
    return this;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function namePart(k: TicketKey): Buffer {
  return k.bytes.subarray(0, PART);
}

function hmacPart(k: TicketKey): Buffer {
  return k.bytes.subarray(PART, 2 * PART);
}

function aesPart(k: TicketKey): Buffer {
  return k.bytes.subarray(2 * PART);
}

/** Opens the shared keys of the `cluster.sessionTickets` section and starts their rotation. */
export function openSessionTickets(config: { readonly secretFile: string; readonly rotationS: number }, resolvePath: (p: string) => string): SessionTicketKeys {
  return new SessionTicketKeys(readTicketSecret(resolvePath(config.secretFile)), config.rotationS).start();
}
