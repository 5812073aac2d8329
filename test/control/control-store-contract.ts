/**
 * The contract every control store meets, run against SQLite and a real
 * PostgreSQL. `open()` opens another connection to the same store each time
 * it is called (another process would do the same), so the suite checks both
 * a store's own writes and other connections'.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { ChangeEvent, ControlStore } from '../../src/control/control-store.ts';
import type { ProvisioningClaimValue, RestrictionValue } from '../../src/control/control-kinds.ts';
import { ClaimRegistry } from '../../src/pki/provisioning.ts';
import { recordedKeks, recordKekRotation } from '../../src/control/kek-versions.ts';

export interface ContractTarget {
  /** A fresh, empty store; every call to the returned open() is one more connection to it. */
  fresh(): Promise<{ open: () => Promise<ControlStore> }>;
}

const restriction = (deviceId: string, mode: 'drop' | 'refuse' = 'refuse'): RestrictionValue =>
  ({ tenantId: 'acme', deviceId, mode, sinceMs: 1, actor: 'op', reason: '' });

/** Collects a store's feed. */
function record(store: ControlStore): ChangeEvent[] {
  const seen: ChangeEvent[] = [];
  store.onChange((e) => seen.push(e));
  return seen;
}

export function controlStoreContract(name: string, target: ContractTarget): void {
  describe(`control store contract: ${name}`, () => {
    const opened: ControlStore[] = [];
    const connect = async (open: () => Promise<ControlStore>) => {
      const s = await open();
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    test('a new store is empty at version 0', async () => {
      const { open } = await target.fresh();
      const s = await connect(open);
      expect(s.version).toBe(0);
      expect(s.entries('restriction').size).toBe(0);
      expect(await s.changesSince(0)).toEqual([]);
    });

    test('put, get, delete: read-your-writes, typed events with increasing versions and the actor', async () => {
      const { open } = await target.fresh();
      const s = await connect(open);
      const feed = record(s);
      const a = await s.put('restriction', 'acme/d1', restriction('d1'), 'alice');
      expect(s.get('restriction', 'acme/d1')).toEqual(restriction('d1'));
      const b = await s.put('restriction', 'acme/d1', restriction('d1', 'drop'), 'bob');
      const c = await s.delete('restriction', 'acme/d1', 'carol');
      expect(s.get('restriction', 'acme/d1')).toBeUndefined();
      expect([a.version < b.version, b.version < c.version]).toEqual([true, true]);
      expect(s.version).toBe(c.version);
      expect(feed.map((e) => [e.kind, e.key, e.value === undefined ? 'deleted' : (e.value as RestrictionValue).mode, e.actor]))
        .toEqual([['restriction', 'acme/d1', 'refuse', 'alice'], ['restriction', 'acme/d1', 'drop', 'bob'], ['restriction', 'acme/d1', 'deleted', 'carol']]);
      expect((await s.changesSince(0)).map((e) => e.version)).toEqual([a.version, b.version, c.version]);
      expect((await s.changesSince(a.version)).map((e) => e.version)).toEqual([b.version, c.version]);
    });

    test('one write of several entries is one transaction: all applied, versions consecutive in order', async () => {
      const { open } = await target.fresh();
      const s = await connect(open);
      const events = await s.write([
        { kind: 'restriction', key: 'acme/d1', value: restriction('d1') },
        { kind: 'legal-hold', key: 'acme/d1', value: { tenantId: 'acme', deviceId: 'd1', held: true, changedAtMs: 5 } },
        { kind: 'policy', key: 'acme', value: { policy: { version: 2 } } },
      ], 'op');
      expect(events.map((e) => e.kind)).toEqual(['restriction', 'legal-hold', 'policy']);
      expect(events[1]!.version).toBe(events[0]!.version + 1);
      expect(events[2]!.version).toBe(events[1]!.version + 1);
      expect(s.get('legal-hold', 'acme/d1')?.held).toBe(true);
      expect(s.get('policy', 'acme')).toEqual({ policy: { version: 2 } });
    });

    test('state and versions survive reopening; a new connection starts from the snapshot', async () => {
      const { open } = await target.fresh();
      const s = await connect(open);
      await s.put('restriction', 'acme/d1', restriction('d1'), 'op');
      const last = await s.put('shred', 'acme/d2', { tenantId: 'acme', deviceId: 'd2', atMs: 9, receiptId: 'r', destroyedCount: 3 }, 'op');
      await s.close();
      const again = await connect(open);
      expect(again.version).toBe(last.version);
      expect(again.get('restriction', 'acme/d1')?.mode).toBe('refuse');
      expect(again.get('shred', 'acme/d2')?.destroyedCount).toBe(3);
      const next = await again.put('restriction', 'acme/d3', restriction('d3'), 'op');
      expect(next.version).toBeGreaterThan(last.version);
    });

    test('a change made through a second connection reaches the first one\'s feed and replica within a second', async () => {
      const { open } = await target.fresh();
      const gateway = await connect(open);
      const cli = await connect(open);
      const feed = record(gateway);
      const written = await cli.put('restriction', 'acme/d9', restriction('d9'), 'cli');
      await vi.waitFor(() => expect(gateway.get('restriction', 'acme/d9')?.mode).toBe('refuse'), { timeout: 1000, interval: 20 });
      expect(feed).toEqual([expect.objectContaining({ version: written.version, kind: 'restriction', key: 'acme/d9', actor: 'cli' })]);
      await cli.delete('restriction', 'acme/d9', 'cli');
      await vi.waitFor(() => expect(gateway.get('restriction', 'acme/d9')).toBeUndefined(), { timeout: 1000, interval: 20 });
    });

    test('concurrent writers: every connection sees every change exactly once, in one version order', async () => {
      const { open } = await target.fresh();
      const [a, b, watcher] = [await connect(open), await connect(open), await connect(open)];
      const feeds = [record(a), record(b), record(watcher)];
      await Promise.all([
        ...Array.from({ length: 10 }, (_, i) => a.put('objection', `a${i}`, { timeMs: i, tenantId: 'acme', deviceId: 'd', purpose: 'ads', actor: 'a', reason: '' }, 'a')),
        ...Array.from({ length: 10 }, (_, i) => b.put('objection', `b${i}`, { timeMs: i, tenantId: 'acme', deviceId: 'd', purpose: 'ads', actor: 'b', reason: '' }, 'b')),
      ]);
      const history = (await watcher.changesSince(0)).map((e) => e.version);
      expect(history).toHaveLength(20);
      expect([...history].sort((x, y) => x - y)).toEqual(history);
      for (const feed of feeds) {
        await vi.waitFor(() => expect(feed.map((e) => e.version)).toEqual(history), { timeout: 1000, interval: 20 });
      }
      expect(watcher.entries('objection').size).toBe(20);
    });

    test('private mode and KEK versions: written through one connection, applied by another from the feed, kept across reopening', async () => {
      const { open } = await target.fresh();
      const gateway = await connect(open);
      const other = await connect(open);
      const feed = record(gateway);
      await other.put('private-mode', 'acme/d1', { on: true, timeMs: 1, actor: 'device:d1', source: 'control-topic' }, 'device:d1');
      const rotated = await recordKekRotation(other, { tenantId: 'acme', kekRef: 'local:acme:v2', createdAtMs: 20, actor: 'op',
        known: [{ kekRef: 'local:acme:v1', primary: true, createdAtMs: 10 }] });
      expect(rotated).toBe(true);
      await vi.waitFor(() => expect(gateway.get('kek-version', 'acme/local:acme:v2')?.primary).toBe(true), { timeout: 1000, interval: 20 });
      expect(gateway.get('private-mode', 'acme/d1')?.on).toBe(true);
      expect(recordedKeks(gateway, 'acme').map((k) => [k.kekRef, k.primary, k.actor])).toEqual([['local:acme:v1', false, 'system'], ['local:acme:v2', true, 'op']]);
      expect(feed.map((e) => e.kind)).toEqual(['private-mode', 'kek-version', 'kek-version']);
      // The next rotation demotes v2 in the same transaction; recording the primary again writes nothing.
      await recordKekRotation(other, { tenantId: 'acme', kekRef: 'local:acme:v3', actor: 'op2' });
      expect(await recordKekRotation(other, { tenantId: 'acme', kekRef: 'local:acme:v3', actor: 'op2' })).toBe(false);
      await other.close();
      const again = await connect(open);
      expect(recordedKeks(again, 'acme').filter((k) => k.primary).map((k) => k.kekRef)).toEqual(['local:acme:v3']);
      expect(again.get('kek-version', 'acme/local:acme:v2')?.primary).toBe(false);
    });

    test('issued certificates and the audit head: written through one connection, seen by another within a second, kept across reopening', async () => {
      const { open } = await target.fresh();
      const gateway = await connect(open);
      const other = await connect(open);
      const cert = { serial: 'a1b2', uri: 'urn:thingiq:tenant:acme:device:d1', kind: 'device' as const, tenantId: 'acme', subject: 'device acme/d1',
        notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z', issuedAt: '2026-01-01T00:00:00.000Z', issuedBy: 'operator:olga' };
      await other.write([
        { kind: 'certificate', key: 'a1b2', value: cert },
        { kind: 'audit-head', key: 'host:/data/audit/audit.jsonl', value: { seq: 7, hash: 'ab'.repeat(32), time: '2026-01-01T00:00:00.000Z', entries: 7 } },
      ], 'op');
      await vi.waitFor(() => expect(gateway.get('audit-head', 'host:/data/audit/audit.jsonl')?.seq).toBe(7), { timeout: 1000, interval: 20 });
      expect(gateway.get('certificate', 'a1b2')).toEqual(cert);
      await other.close();
      const again = await connect(open);
      expect(again.entries('certificate').size).toBe(1);
      expect(again.get('audit-head', 'host:/data/audit/audit.jsonl')).toMatchObject({ seq: 7, entries: 7 });
    });

    test('provisioning claims and registrations: counted, revoked and expired across connections, kept across reopening', async () => {
      const { open } = await target.fresh();
      const a = await connect(open);
      const b = await connect(open);
      const claims = { a: new ClaimRegistry(a), b: new ClaimRegistry(b) };
      const claim: ProvisioningClaimValue = {
        tenantId: 'acme', claimId: 'line-1', deviceIdPattern: 'sensor-*', deviceGroup: 'sensors', maxDevices: 2,
        expiresAt: new Date(Date.now() + 3600_000).toISOString(), certificateDays: 30, serial: '1a2b', createdAt: new Date().toISOString(), createdBy: 'op',
      };
      await claims.a.create(claim, 'op');
      await expect(claims.a.create(claim, 'op')).rejects.toMatchObject({ code: 'TIQ_ERR_CONFLICT' });
      const peer = { tenantId: 'acme', claimId: 'line-1', serial: '1a2b' };
      // Another connection registers: it catches up on the claim first, and its count is the first's.
      await claims.b.register(peer, 'acme', 'sensor-1', 'claim:acme/line-1', async () => ({ serial: '0c0d' }));
      await vi.waitFor(() => expect(claims.a.used('acme', 'line-1')).toBe(1), { timeout: 1000 });
      await claims.a.register(peer, 'acme', 'sensor-2', 'claim:acme/line-1', async () => ({ serial: 'e0f' }));
      await expect(claims.b.register(peer, 'acme', 'sensor-3', 'x', async () => ({ serial: '1' }))).rejects.toMatchObject({ code: 'TIQ_ERR_CLAIM_EXHAUSTED' });
      // A failed registration frees its place.
      const other = { ...claim, claimId: 'line-2', serial: '2b' };
      await claims.a.create(other, 'op');
      await expect(claims.a.register({ ...peer, claimId: 'line-2', serial: '2b' }, 'acme', 'sensor-9', 'x', async () => { throw new Error('CA down'); })).rejects.toThrow('CA down');
      expect(claims.a.used('acme', 'line-2')).toBe(0);
      expect(claims.a.authorize({ ...peer, claimId: 'line-2', serial: '2b' }, 'acme', 'sensor-9').claimId).toBe('line-2');
      expect(() => claims.a.authorize({ ...peer, claimId: 'line-2', serial: '2b' }, 'acme', 'sensor-9', Date.parse(claim.expiresAt) + 1)).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CLAIM_EXPIRED' }));
      await claims.b.revoke('acme', 'line-2', 'op');
      await a.catchUp();
      expect(() => claims.a.authorize({ ...peer, claimId: 'line-2', serial: '2b' }, 'acme', 'sensor-9')).toThrow(expect.objectContaining({ code: 'TIQ_ERR_CLAIM_REVOKED' }));
      await a.close();
      await b.close();
      const again = new ClaimRegistry(await connect(open));
      expect(again.list('acme').map((c) => [c.claimId, c.used, c.status])).toEqual([['line-1', 2, 'exhausted'], ['line-2', 0, 'revoked']]);
    });

    test('a failing listener does not stop the feed for the others', async () => {
      const { open } = await target.fresh();
      const s = await connect(open);
      s.onChange(() => { throw new Error('consumer bug'); });
      const feed = record(s);
      await s.put('restriction', 'acme/d1', restriction('d1'), 'op');
      await s.put('restriction', 'acme/d2', restriction('d2'), 'op');
      expect(feed.map((e) => e.key)).toEqual(['acme/d1', 'acme/d2']);
    });

    test('unsubscribing stops delivery; a closed store refuses writes', async () => {
      const { open } = await target.fresh();
      const s = await connect(open);
      const seen: string[] = [];
      const off = s.onChange((e) => seen.push(e.key));
      await s.put('restriction', 'acme/d1', restriction('d1'), 'op');
      off();
      await s.put('restriction', 'acme/d2', restriction('d2'), 'op');
      expect(seen).toEqual(['acme/d1']);
      await s.close();
      await expect(s.put('restriction', 'acme/d3', restriction('d3'), 'op')).rejects.toThrow();
    });
  });
}
