/**
 * A control-store write that has resolved is committed: the process killed
 * with SIGKILL right after the acknowledgement loses none of the
 * acknowledged changes, and the store opens cleanly afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'control-writer.ts');

/** Runs the writer until it has acknowledged `acks` writes, then kills it with SIGKILL; returns the highest ack seen. */
function writeThenKill(path: string, acks: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let last = -1;
    let buffered = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) last = Math.max(last, Number(line.slice('ack '.length)));
      if (last + 1 >= acks) child.kill('SIGKILL');
    });
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(last);
      else reject(new Error(`writer exited (${code}) before it was killed: ${err.slice(-500)}`));
    });
  });
}

test('every write acknowledged before a SIGKILL is in the control store after it', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tiq-control-crash-')), 'control.db');
  const lastAck = await writeThenKill(path, 25);
  expect(lastAck).toBeGreaterThanOrEqual(24);

  const store = await SqliteControlStore.open({ path });
  try {
    for (let n = 0; n <= lastAck; n += 1) {
      expect(store.get('restriction', `acme/dev-${n}`)?.deviceId, `acknowledged write ${n}`).toBe(`dev-${n}`);
    }
    // The change feed has one row per write and no holes: a write is atomic, its row and its state together.
    const changes = await store.changesSince(0, 10_000);
    expect(changes.length).toBe(store.entries('restriction').size);
    expect(changes.map((c) => c.version)).toEqual(changes.map((_, i) => changes[0]!.version + i));
  } finally {
    await store.close();
  }
}, 60_000);
