import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { controlStoreContract } from './control-store-contract.ts';

controlStoreContract('SQLite', {
  fresh: async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tiq-control-')), 'data', 'control.db');
    return { open: () => SqliteControlStore.open({ path }) };
  },
});

test('the SQLite control store is its own file, created 0600', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tiq-control-')), 'control.db');
  const s = await SqliteControlStore.open({ path });
  await s.close();
  expect(statSync(path).mode & 0o777).toBe(0o600);
});
