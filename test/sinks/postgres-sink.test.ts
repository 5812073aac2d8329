import { afterAll, describe, test } from 'vitest';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { sinkContract } from './sink-contract.ts';

const available = await startTestPostgres();

if (!available.ok) {
  describe.skip(`PostgresSink (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  sinkContract('PostgresSink', async () => {
    const url = await server.newDatabase();
    let sink = new PostgresSink('eu', { connectionString: url, durability: 'fsync', poolSize: 4 });
    await sink.start();
    return {
      get sink() { return sink; },
      reopen: async () => {
        await sink.close();
        sink = new PostgresSink('eu', { connectionString: url, durability: 'process', poolSize: 4 });
        await sink.start();
        return sink;
      },
    };
  });
}
