/**
 * First writer wins for tenant key material: three cold nodes (separate
 * processes, each with its own pools and provider) racing on a new tenant
 * against one PostgreSQL make exactly one KEK version and all use it, and
 * one device KEK for a device all three see at once; records sealed by each
 * open on the others; a rotation raced by all three makes exactly one new version.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PgKeyringStore } from '../../src/cluster/pg-keyring-store.ts';
import { SharedLocalKeyProvider } from '../../src/keys/shared-local-key-provider.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startLineChild, type LineChild } from './line-child.ts';

const NODE = fileURLToPath(new URL('./fixtures/key-node.ts', import.meta.url));
const available = await startTestPostgres();

async function kekRows(url: string, tenant: string): Promise<{ version: number }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ version: number }>('SELECT version FROM tiq_kek_versions WHERE tenant_id = $1 ORDER BY version', [tenant])).rows;
  } finally {
    await client.end();
  }
}

async function deviceKekCount(url: string, tenant: string, device: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM tiq_device_keks WHERE tenant_id = $1 AND device_id = $2', [tenant, device])).rowCount ?? 0;
  } finally {
    await client.end();
  }
}

if (!available.ok) {
  describe.skip(`shared keyring (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server: TestPostgres = available.pg;
  const rootKey = randomBytes(32).toString('base64');
  let url = '';
  let nodes: LineChild[] = [];

  beforeAll(async () => {
    url = await server.newDatabase();
    nodes = ['a', 'b', 'c'].map((node) => startLineChild(NODE, { TIQ_TEST_PG_URL: url, TIQ_TEST_NODE: node, TIQ_TEST_ROOT_KEY: rootKey }));
    await Promise.all(nodes.map((n) => n.ready));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await server.close();
  });

  describe('shared keyring in PostgreSQL', () => {
    test('three cold nodes racing on a new tenant create one KEK version, and each node opens what the others sealed', async () => {
      const sealed = await Promise.all(nodes.map((n) => n.ask<{ kekRef: string; recordIds: string[] }>({ op: 'seal', tenant: 'racer', count: 3 })));
      expect(sealed.map((s) => s.kekRef)).toEqual(['local:racer:v1', 'local:racer:v1', 'local:racer:v1']);
      expect(await kekRows(url, 'racer')).toEqual([{ version: 1 }]);
      // The same device on three nodes at once: one device KEK, first writer wins.
      const shared = await Promise.all(nodes.map((n) => n.ask<{ deviceKekRef: string }>({ op: 'seal', tenant: 'racer', count: 2, device: 'dev-shared' })));
      expect(shared.map((s) => s.deviceKekRef)).toEqual(Array(3).fill('device:racer:dev-shared:1'));
      expect(await deviceKekCount(url, 'racer', 'dev-shared')).toBe(1);
      for (const n of nodes) {
        const { opened } = await n.ask<{ opened: [string, string][] }>({ op: 'open', tenant: 'racer' });
        expect(opened).toHaveLength(15);
        expect(opened.map(([, text]) => text.split(':')[0]).sort()).toEqual(['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'c', 'c', 'c', 'c', 'c']);
      }
    }, 60_000);

    test('a rotation raced by three nodes makes exactly one new version, which all of them then seal under', async () => {
      await Promise.all(nodes.map((n) => n.ask({ op: 'seal', tenant: 'rotor', count: 1 })));
      const rotated = await Promise.all(nodes.map((n) => n.ask<{ kekRef: string }>({ op: 'rotate', tenant: 'rotor' })));
      expect(rotated.map((r) => r.kekRef)).toEqual(['local:rotor:v2', 'local:rotor:v2', 'local:rotor:v2']);
      expect(await kekRows(url, 'rotor')).toEqual([{ version: 1 }, { version: 2 }]);
      const after = await Promise.all(nodes.map((n) => n.ask<{ kekRef: string }>({ op: 'seal', tenant: 'rotor', count: 1 })));
      expect(after.map((s) => s.kekRef)).toEqual(['local:rotor:v2', 'local:rotor:v2', 'local:rotor:v2']);
      // Old (v1) and new (v2) records open everywhere.
      for (const n of nodes) expect((await n.ask<{ opened: unknown[] }>({ op: 'open', tenant: 'rotor' })).opened).toHaveLength(6);
      // A later rotation by one node moves on from the newest version any node made.
      expect((await nodes[2]!.ask<{ kekRef: string }>({ op: 'rotate', tenant: 'rotor' })).kekRef).toBe('local:rotor:v3');
    }, 60_000);

    test('a device key shredded on one node opens nowhere: the shared vault row is gone (TIQ_ERR_KEY_SHREDDED)', async () => {
      await Promise.all(nodes.map((n) => n.ask({ op: 'seal', tenant: 'shreds', count: 1, device: 'dev-gone' })));
      expect(await deviceKekCount(url, 'shreds', 'dev-gone')).toBe(1);
      expect((await nodes[0]!.ask<{ refs: string[] }>({ op: 'shred', tenant: 'shreds', device: 'dev-gone' })).refs).toEqual(['device:shreds:dev-gone:1']);
      expect(await deviceKekCount(url, 'shreds', 'dev-gone')).toBe(0);
      // The control store's feed makes every other node forget the device's cached keys.
      for (const n of nodes.slice(1)) await n.ask({ op: 'forget', tenant: 'shreds', device: 'dev-gone' });
      expect(await nodes[2]!.ask({ op: 'open', tenant: 'shreds' })).toEqual({ error: 'TIQ_ERR_KEY_SHREDDED' });
      // The device's next record gets a fresh KEK (generation 2), made once.
      expect((await nodes[1]!.ask<{ deviceKekRef: string }>({ op: 'seal', tenant: 'shreds', count: 1, device: 'dev-gone' })).deviceKekRef).toBe('device:shreds:dev-gone:2');
    }, 60_000);

    test('a node with another root key refuses the shared keyring (TIQ_ERR_KEYRING_SEALED) and makes nothing', async () => {
      const store = await PgKeyringStore.open(url);
      const wrongRoot = { envName: 'K', env: { K: randomBytes(32).toString('base64') }, file: '/nonexistent', mayCreate: false };
      const stranger = new SharedLocalKeyProvider({ store, rootKey: wrongRoot });
      await stranger.start();
      await expect(stranger.generateDataKey('racer')).rejects.toMatchObject({ code: 'TIQ_ERR_KEYRING_SEALED' });
      expect(await kekRows(url, 'racer')).toEqual([{ version: 1 }]);
      await stranger.close();
    });

    test('an edited row does not open (bound to tenant and version), and the store being down is retryable', async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`INSERT INTO tiq_kek_versions (tenant_id, version, created_at_ms, sealed)
        SELECT 'moved', version, created_at_ms, sealed FROM tiq_kek_versions WHERE tenant_id = 'racer'`);
      await client.end();
      const store = await PgKeyringStore.open(url);
      const provider = new SharedLocalKeyProvider({ store, rootKey: { envName: 'K', env: { K: rootKey }, file: '/nonexistent', mayCreate: false } });
      await provider.start();
      await expect(provider.generateDataKey('moved')).rejects.toMatchObject({ code: 'TIQ_ERR_KEYRING_SEALED' });
      expect((await provider.generateDataKey('racer')).kekRef).toBe('local:racer:v1');
      await store.close();
      await expect(provider.generateDataKey('fresh')).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_UNAVAILABLE', retryable: true });
      expect((await provider.health()).ok).toBe(false);
    });
  });
}
