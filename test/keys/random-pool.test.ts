import { describe, expect, it } from 'vitest';
import { takeRandomBytes } from '../../src/keys/random-pool.ts';
import { newRecordId } from '../../src/pipeline/record-id.ts';

describe('random pool', () => {
  it('never hands out the same bytes twice, across block boundaries', () => {
    const views = Array.from({ length: 20_000 }, () => takeRandomBytes(12));
    const seen = new Set(views.map((v) => v.toString('hex')));
    expect(seen.size).toBe(views.length);
    // Views of one block never overlap: writing one does not change another.
    const [a, b] = [views[0]!, views[1]!];
    const before = Buffer.from(b);
    a.fill(0xff);
    expect(b.equals(before)).toBe(true);
  });

  it('refuses more than a block', () => {
    expect(() => takeRandomBytes(64 * 1024 + 1)).toThrow(RangeError);
  });
});

describe('record ids', () => {
  it('are UUID version 7 carrying the receive time, unique', () => {
    const t = Date.UTC(2026, 10, 29, 5, 55);
    const ids = Array.from({ length: 10_000 }, () => newRecordId(t));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16)).toBe(t);
  });

  it('carry each record\'s own time when times alternate', () => {
    const times = [0, 1, Date.UTC(2026, 10, 29), Date.UTC(2026, 10, 29) + 1, 2 ** 48 - 1, Date.UTC(2026, 10, 29)];
    for (const t of times) expect(parseInt(newRecordId(t).replace(/-/g, '').slice(0, 12), 16)).toBe(t);
  });
});
