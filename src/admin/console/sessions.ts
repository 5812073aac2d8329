/**
 * Console sessions and one-time sign-in links, in the gateway's memory: a
 * restart signs everyone out, which is the safe direction. Ids and tokens
 * are 256-bit random values; only their SHA-256 is kept as a map key, so a
 * heap dump does not hand out live sessions.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../principal.ts';

export interface ConsoleSession {
  readonly principal: Principal;
  /** Synchronizer token: sent back in `x-csrf-token` on every state change. */
  readonly csrf: string;
  readonly createdAtMs: number;
  lastUsedMs: number;
}

export interface SessionTimeouts {
  readonly idleMs: number;
  readonly absoluteMs: number;
}

/** A sign-in link is valid this long, once. */
export const SIGN_IN_LINK_TTL_MS = 60_000;
const MAX_PENDING = 1000;

const token = (): string => randomBytes(32).toString('base64url');
const keyOf = (secret: string): string => createHash('sha256').update(secret).digest('base64url');

export class SessionStore {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly links = new Map<string, { principal: Principal; expiresAtMs: number }>();

  constructor(private readonly timeouts: SessionTimeouts, private readonly now: () => number = Date.now) {}

  /** A one-time link for `principal`; the code is returned once and kept only as a hash. */
  createLink(principal: Principal): { code: string; expiresAtMs: number } {
    this.prune();
    if (this.links.size >= MAX_PENDING) this.links.delete(this.links.keys().next().value!);
    const code = token();
    const expiresAtMs = this.now() + SIGN_IN_LINK_TTL_MS;
    this.links.set(keyOf(code), { principal, expiresAtMs });
    return { code, expiresAtMs };
  }

  /** Consumes a link: the first exchange wins, a second or late one gets undefined. */
  redeemLink(code: string): Principal | undefined {
    const key = keyOf(code);
    const link = this.links.get(key);
    this.links.delete(key);
    if (!link || link.expiresAtMs <= this.now()) return undefined;
    return link.principal;
  }

  /** Starts a session; returns its id (the cookie value) and the session. */
  create(principal: Principal): { id: string; session: ConsoleSession } {
    this.prune();
    const id = token();
    const at = this.now();
    const session: ConsoleSession = { principal, csrf: token(), createdAtMs: at, lastUsedMs: at };
    this.sessions.set(keyOf(id), session);
    return { id, session };
  }

  /** The live session of this id, touched (idle timer restarted) when `touch`; expired ones are removed. */
  get(id: string, touch = true): ConsoleSession | undefined {
    const key = keyOf(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (this.expired(s)) {
      this.sessions.delete(key);
      return undefined;
    }
    if (touch) s.lastUsedMs = this.now();
    return s;
  }

  end(id: string): void {
    this.sessions.delete(keyOf(id));
  }

  /** When the session ends at the latest if unused (idle) and at all (absolute). */
  expiry(s: ConsoleSession): { idleAtMs: number; absoluteAtMs: number } {
    return { idleAtMs: s.lastUsedMs + this.timeouts.idleMs, absoluteAtMs: s.createdAtMs + this.timeouts.absoluteMs };
  }

  private expired(s: ConsoleSession): boolean {
    const e = this.expiry(s);
    return this.now() >= Math.min(e.idleAtMs, e.absoluteAtMs);
  }

  private prune(): void {
    const at = this.now();
    for (const [k, l] of this.links) if (l.expiresAtMs <= at) this.links.delete(k);
    for (const [k, s] of this.sessions) if (this.expired(s)) this.sessions.delete(k);
  }
}

/** Constant-time comparison of two tokens (CSRF, state). */
export function sameToken(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
