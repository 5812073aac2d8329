/** Console sessions and sign-in links: single use, 60 s, idle and absolute timeouts (a clock the test moves). */
import { describe, expect, it } from 'vitest';
import { SessionStore, SIGN_IN_LINK_TTL_MS } from '../../src/admin/console/sessions.ts';
import type { Principal } from '../../src/admin/principal.ts';

const olga: Principal = { actor: 'operator:olga', role: 'operator', tenantId: undefined, via: 'session' };

function store() {
  let now = 1_000_000;
  const s = new SessionStore({ idleMs: 900_000, absoluteMs: 3_600_000 }, () => now);
  return { s, advance: (ms: number) => { now += ms; } };
}

describe('sign-in links', () => {
  it('work once', () => {
    const { s } = store();
    const { code } = s.createLink(olga);
    expect(s.redeemLink(code)).toEqual(olga);
    expect(s.redeemLink(code)).toBeUndefined();
  });

  it('expire after 60 s unused', () => {
    const { s, advance } = store();
    const a = s.createLink(olga);
    const b = s.createLink(olga);
    advance(SIGN_IN_LINK_TTL_MS - 1);
    expect(s.redeemLink(a.code)).toEqual(olga);
    advance(1);
    expect(s.redeemLink(b.code)).toBeUndefined();
  });

  it('an unknown code signs no one in', () => {
    const { s } = store();
    s.createLink(olga);
    expect(s.redeemLink('x'.repeat(43))).toBeUndefined();
  });
});

describe('sessions', () => {
  it('end after the idle timeout unless used, and after the absolute timeout however busy', () => {
    const { s, advance } = store();
    const idle = s.create(olga);
    const busy = s.create(olga);
    advance(899_000);
    expect(s.get(busy.id)).toBeDefined();
    advance(2000);
    expect(s.get(idle.id)).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      advance(600_000);
      if (i < 4) expect(s.get(busy.id)).toBeDefined();
    }
    expect(s.get(busy.id)).toBeUndefined();
  });

  it('a read that does not touch leaves the idle timer running; end() signs out', () => {
    const { s, advance } = store();
    const a = s.create(olga);
    advance(800_000);
    expect(s.get(a.id, false)).toBeDefined();
    advance(200_000);
    expect(s.get(a.id)).toBeUndefined();
    const b = s.create(olga);
    s.end(b.id);
    expect(s.get(b.id)).toBeUndefined();
  });

  it('give each session its own CSRF token', () => {
    const { s } = store();
    expect(s.create(olga).session.csrf).not.toBe(s.create(olga).session.csrf);
  });
});
