/**
 * On a real PostgreSQL, erasure cannot zero what MVCC leaves behind: the
 * deleted data-key row stays in the heap page as a dead tuple until VACUUM.
 * Destroying the device's KEK in the key store's vault is what makes that
 * leftover (read here from the raw page, as someone with the disk would)
 * impossible to unwrap.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { KeysConfigSchema } from '../../src/config/keys-config.ts';
import { shredDevice } from '../../src/keys/crypto-shred.ts';
import { openKeyContext, type KeyContext } from '../../src/keys/key-context.ts';
import { RecordSealer } from '../../src/keys/record-sealer.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { record } from './fixtures.ts';

const available = await startTestPostgres();

async function sealed(ctx: KeyContext, deviceId: string, text: string): Promise<SealedRecord> {
  const recordId = randomUUID();
  const envelope = await ctx.sealer.seal({ tenantId: 'acme', deviceId, stream: 'location', recordId, plaintext: Buffer.from(text) });
  return record({ deviceId, recordId, ...envelope, contentDigest: randomBytes(16) });
}

if (!available.ok) {
  describe.skip(`crypto-shredding on PostgreSQL (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  const dir = mkdtempSync(join(tmpdir(), 'tiq-pg-shred-'));
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('crypto-shredding on PostgreSQL', () => {
    test('a wrapped data key read before the erasure (or recovered from its dead tuple) cannot be unwrapped after it', async () => {
      const url = await server.newDatabase();
      const sink = new PostgresSink('eu', { connectionString: url, durability: 'fsync', poolSize: 2 });
      await sink.start();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      // Keep the dead tuple where it falls, and read raw heap pages.
      await admin.query('ALTER TABLE tiq_data_keys SET (autovacuum_enabled = false)');
      await admin.query('CREATE EXTENSION IF NOT EXISTS pageinspect');
      const config = { dataDir: join(dir, 'data'), keys: KeysConfigSchema.parse({}), tenants: { acme: {} } };
      const env = { THINGIQ_ROOT_KEY: randomBytes(32).toString('base64') };
      const ctx = await openKeyContext(config, sink, { env });
      try {
        const victim = await sealed(ctx, 'truck-1', 'exact position of truck-1');
        const other = await sealed(ctx, 'truck-2', 'exact position of truck-2');
        await sink.writeBatch([victim, other]);

        const { rows } = await admin.query<{ dek_id: string; device_id: string; kek_ref: string; wrapped: Buffer; created_at_ms: string }>(
          "SELECT * FROM tiq_data_keys WHERE tenant_id = 'acme' AND device_id = 'truck-1'");
        expect(rows.map((r) => r.kek_ref)).toEqual(['device:acme:truck-1:1']);
        const stolen = rows[0]!;
        expect(await ctx.sealer.open(victim)).toEqual(Buffer.from('exact position of truck-1'));

        const receipt = await shredDevice(ctx, { tenantId: 'acme', deviceId: 'truck-1', actor: 'dpo@acme' });
        expect(receipt).toMatchObject({ destroyedCount: 1, deviceKekRefs: ['device:acme:truck-1:1'] });
        expect((await admin.query("SELECT 1 FROM tiq_data_keys WHERE device_id = 'truck-1'")).rowCount).toBe(0);
        // MVCC: the deleted row's bytes are still in the heap page.
        const page = (await admin.query<{ p: Buffer }>("SELECT get_raw_page('tiq_data_keys', 0) AS p")).rows[0]!.p;
        expect(page.includes(stolen.wrapped)).toBe(true);

        // Whoever holds the leftover row and today's key store still cannot unwrap it.
        const leftovers = new MemoryDataKeyStore();
        await leftovers.putDataKey({ dekId: stolen.dek_id, tenantId: 'acme', deviceId: 'truck-1', kekRef: stolen.kek_ref, wrapped: stolen.wrapped, createdAtMs: Number(stolen.created_at_ms) });
        const reader = new RecordSealer({ provider: ctx.provider, store: leftovers, limits: { maxMessages: 10, maxAgeMs: 60_000, maxOpenKeys: 10 }, deviceKeks: ctx.deviceKeks });
        await expect(reader.open(victim)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
        await expect(ctx.deviceKeks.unwrapDataKey('acme', 'truck-1', stolen.wrapped, stolen.kek_ref)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
        // The other device is untouched, read cold (fresh caches) from the sink.
        const cold = await openKeyContext(config, sink, { env });
        expect(await cold.sealer.open(other)).toEqual(Buffer.from('exact position of truck-2'));
        await expect(cold.sealer.open(victim)).rejects.toMatchObject({ code: 'TIQ_ERR_KEY_SHREDDED' });
        await cold.close();
      } finally {
        await ctx.close();
        await admin.end();
        await sink.close();
      }
    }, 60_000);
  });
}
