import pg from 'pg';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { PostgresControlStore } from '../../src/control/postgres-control-store.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { controlStoreContract } from './control-store-contract.ts';

const available = await startTestPostgres();

if (!available.ok) {
  describe.skip(`PostgreSQL control store (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  // The backstop poll is slowed down so that the contract is met by LISTEN/NOTIFY alone.
  controlStoreContract('PostgreSQL', {
    fresh: async () => {
      const url = await server.newDatabase();
      return { open: () => PostgresControlStore.open({ connectionString: url, pollIntervalMs: 600_000 }) };
    },
  });

  test('after its LISTEN connection is killed, a store reconnects and catches up by version what it missed', async () => {
    const url = await server.newDatabase();
    const watcher = await PostgresControlStore.open({ connectionString: url, pollIntervalMs: 600_000, reconnectMs: 50 });
    const writer = await PostgresControlStore.open({ connectionString: url, pollIntervalMs: 600_000 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'thingiq-control-listen' AND datname = current_database() AND pid <> pg_backend_pid()`);
      expect(killed.rowCount).toBe(2);
      // Written while the watcher's notifications are down: only the catch-up after reconnecting can deliver it.
      const w = await writer.put('shred', 'acme/d1', { tenantId: 'acme', deviceId: 'd1', atMs: 1, receiptId: 'r', destroyedCount: 1 }, 'op');
      await vi.waitFor(() => expect(watcher.version).toBe(w.version), { timeout: 3000, interval: 20 });
      expect(watcher.get('shred', 'acme/d1')?.receiptId).toBe('r');
      // And notifications flow again afterwards.
      await vi.waitFor(async () => {
        const n = await writer.put('restriction', `acme/x${Date.now()}`, { tenantId: 'acme', deviceId: 'x', mode: 'drop', sinceMs: 1, actor: 'op', reason: '' }, 'op');
        await vi.waitFor(() => expect(watcher.version).toBe(n.version), { timeout: 1000, interval: 20 });
      }, { timeout: 5000, interval: 100 });
    } finally {
      await admin.end();
      await watcher.close();
      await writer.close();
    }
  });
}
