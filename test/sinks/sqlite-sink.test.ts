import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { sinkContract } from './sink-contract.ts';

sinkContract('SqliteSink', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tiq-sqlite-')), 'thingiq.db');
  let sink = new SqliteSink('default', { path, durability: 'fsync' });
  await sink.start();
  return {
    get sink() { return sink; },
    reopen: async () => {
      await sink.close();
      sink = new SqliteSink('default', { path, durability: 'process' });
      await sink.start();
      return sink;
    },
  };
});
