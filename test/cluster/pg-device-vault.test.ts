/**
 * The device key vault of cluster mode on a real PostgreSQL: nodes racing on
 * new devices end with one KEK per device; a record sealed on one node opens
 * on another; a shred on one node leaves no node able to open the device's
 * records, and the device's next KEK is a new generation. A destroy
 * vacuums the table at once; a stopped server is a retryable error that
 * writes nothing partial.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { PgDeviceKeyVault } from '../../src/cluster/pg-device-vault.ts';
import { KeysConfigSchema } from '../../src/config/keys-config.ts';
import { shredDevice } from '../../src/keys/crypto-shred.ts';
import { openKeyContext, type KeyContext } from '../../src/keys/key-context.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

// Its own server: the outage test stops and restarts it.
const available = await startTestPostgres({ own: true });

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return (await c.query<R>(text, values)).rows; } finally { await c.end(); }
}

const kek = (deviceId: string) => ({ tenantId: 'acme', deviceId, wrapped: randomBytes(40), tenantKekRef: 'local:acme:v1', createdAtMs: Date.now() });

if (!available.ok) {
  describe.skip(`device key vault on PostgreSQL (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  const dir = mkdtempSync(join(tmpdir(), 'tiq-pg-vault-'));
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A node: its own key context (own caches, own pool to the vault) over the shared keyring directory and data-key store. */
  async function node(url: string, store: MemoryDataKeyStore, env: Record<string, string>): Promise<KeyContext> {
    const config = { dataDir: join(dir, 'shared-keys'), keys: KeysConfigSchema.parse({}), tenants: { acme: {} } };
    return openKeyContext(config, store, { env, deviceVault: await PgDeviceKeyVault.open(url) });
  }

  describe('device key vault on PostgreSQL (cluster mode)', () => {
    test('three nodes racing on the same 30 new devices: one KEK per device, the same on every node', async () => {
      const url = await server.newDatabase();
      const vaults = await Promise.all([1, 2, 3].map(() => PgDeviceKeyVault.open(url)));
      const rows = (n: number) => Array.from({ length: 30 }, (_, i) => ({
        tenantId: 'acme', deviceId: `truck-${i}`, wrapped: Buffer.from(`node-${n}-kek-${i}`), tenantKekRef: 'local:acme:v1', createdAtMs: 1000 + n,
      }));
      const results = await Promise.all(vaults.map((v, n) => v.insertManyIfAbsent(rows(n))));
      for (let i = 0; i < 30; i++) {
        const seen = results.map((r) => r[i]!);
        expect(new Set(seen.map((k) => k.wrapped.toString())).size).toBe(1);
        expect(seen[0]!.kekRef).toBe(`device:acme:truck-${i}:1`);
        expect((await vaults[2]!.get('acme', `truck-${i}`))?.wrapped).toEqual(seen[0]!.wrapped);
      }
      expect([...(await vaults[0]!.countByTenantKek('acme'))]).toEqual([['local:acme:v1', 30]]);
      // Keyset pages in byte order, as the SQLite vault's.
      expect((await vaults[1]!.listTenant('acme', { afterDeviceId: 'truck-28', limit: 3 })).map((k) => k.deviceId)).toEqual(['truck-29', 'truck-3', 'truck-4']);
      await Promise.all(vaults.map((v) => v.close()));
    });

    test('sealed on node A, opened on node B; shredded on B, opened on no node; the next KEK is generation 2', async () => {
      const url = await server.newDatabase();
      const store = new MemoryDataKeyStore();
      const env = { THINGIQ_ROOT_KEY: randomBytes(32).toString('base64') };
      const a = await node(url, store, env);
      const b = await node(url, store, env);
      try {
        const recordId = randomUUID();
        const input = { tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId, plaintext: Buffer.from('exact position') };
        const env1 = await a.sealer.seal(input);
        expect(env1.kekRef).toBe('device:acme:truck-1:1');
        const opened = await b.sealer.open({ ...env1, tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId });
        expect(opened.toString()).toBe('exact position');

        const backedUp = (await store.getDataKey('acme', env1.dekId))!;
        const receipt = await shredDevice(b, { tenantId: 'acme', deviceId: 'truck-1', actor: 'operator:test' });
        expect(receipt.destroyedDekIds).toEqual([env1.dekId]);
        expect(await a.deviceKeks.vault.get('acme', 'truck-1')).toBeUndefined();
        expect((await a.deviceKeks.vault.listTombstones()).map((t) => t.kekRefs)).toEqual([['device:acme:truck-1:1']]);
        // The wrapped data key comes back from a backup of the data-key store: it opens on no node, its device KEK is gone from the one vault.
        await store.putDataKey(backedUp);
        const c = await node(url, store, env);
        await expect(c.sealer.open({ ...env1, tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId })).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
        await c.close();
        // The shred reaches A through the control store's feed (the gateway calls this); A then makes the device's next KEK: a new generation, which B uses too.
        a.sealer.forgetDevice('acme', 'truck-1');
        const env2 = await a.sealer.seal({ ...input, recordId: randomUUID() });
        expect(env2.kekRef).toBe('device:acme:truck-1:2');
        expect((await b.deviceKeks.vault.get('acme', 'truck-1'))?.generation).toBe(2);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('a destroy deletes the KEK row and vacuums the table at once: no dead tuple of it left for autovacuum', async () => {
      const url = await server.newDatabase();
      const vault = await PgDeviceKeyVault.open(url);
      try {
        await vault.insertManyIfAbsent([kek('truck-1'), kek('truck-2')]);
        const stats = async () => (await sql<{ vacuums: string; autovacuums: string; dead: string }>(url,
          "SELECT vacuum_count AS vacuums, autovacuum_count AS autovacuums, n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'tiq_device_keks'"))[0]!;
        const before = await stats();
        expect(await vault.destroy('acme', 'truck-1', { receiptId: randomUUID(), atMs: Date.now() })).toEqual(['device:acme:truck-1:1']);
        expect(await sql(url, "SELECT 1 FROM tiq_device_keks WHERE device_id = 'truck-1'")).toEqual([]);
        // A manual VACUUM (not autovacuum) ran after the delete, and left no dead tuple behind.
        await vi.waitFor(async () => expect(Number((await stats()).vacuums)).toBe(Number(before.vacuums) + 1), { timeout: 5000, interval: 100 });
        expect(Number((await stats()).dead)).toBe(0);
        // A destroy with nothing live (a tombstone only) deletes nothing, so it has nothing to vacuum.
        const after = await stats();
        expect(await vault.destroy('acme', 'truck-1', { receiptId: randomUUID(), atMs: Date.now() })).toEqual([]);
        expect((await stats()).vacuums).toBe(after.vacuums);
        expect((await vault.get('acme', 'truck-2'))?.generation).toBe(1);
      } finally {
        await vault.close();
      }
    });

    test('a vault whose PostgreSQL server stops answers TIQ_ERR_KEY_UNAVAILABLE (retryable), writes nothing partial, and works again after the restart', async () => {
      const url = await server.newDatabase();
      const warnings: Record<string, unknown>[] = [];
      const vault = await PgDeviceKeyVault.open(url, { warn: (fields) => { warnings.push(fields); } });
      try {
        await vault.insertManyIfAbsent([kek('truck-1')]);
        await server.stop();
        const unavailable = { code: 'TIQ_ERR_KEY_UNAVAILABLE', retryable: true };
        const receiptId = randomUUID();
        try {
          await expect(vault.get('acme', 'truck-1')).rejects.toMatchObject(unavailable);
          await expect(vault.insertManyIfAbsent([kek('truck-2'), kek('truck-3')])).rejects.toMatchObject(unavailable);
          await expect(vault.destroy('acme', 'truck-1', { receiptId, atMs: Date.now() })).rejects.toMatchObject(unavailable);
          await expect(vault.listTombstones()).rejects.toMatchObject(unavailable);
        } finally {
          await server.restart();
        }
        // Nothing of the failed calls: no new KEK or generation, the old KEK live, no tombstone of the failed destroy.
        expect((await sql<{ d: string }>(url, 'SELECT device_id AS d FROM tiq_device_keks ORDER BY 1')).map((r) => r.d)).toEqual(['truck-1']);
        expect((await sql<{ d: string }>(url, 'SELECT device_id AS d FROM tiq_device_generations ORDER BY 1')).map((r) => r.d)).toEqual(['truck-1']);
        expect(await sql(url, 'SELECT 1 FROM tiq_device_tombstones')).toEqual([]);
        // The same vault (its pool reconnects) serves again.
        expect((await vault.get('acme', 'truck-1'))?.generation).toBe(1);
        expect(await vault.hasTombstone(receiptId)).toBe(false);
        // A lost idle connection is logged with the stable code, never thrown.
        for (const w of warnings) expect(w).toMatchObject({ event: 'device_vault_connection_lost', code: 'TIQ_ERR_KEY_UNAVAILABLE' });
      } finally {
        await vault.close();
      }
    }, 120_000);
  });
}
