/** A real SqliteSink whose writes can be made to fail (an outage) or held (a slow commit). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SealedRecord } from '../../src/records/message.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import type { StorageSink, WriteResult } from '../../src/sinks/storage-sink.ts';

export interface ControlledSink {
  readonly sink: StorageSink;
  readonly inner: SqliteSink;
  /** Sizes of the batches that committed. */
  readonly committedBatches: number[];
  down: boolean;
  /** While set, writeBatch waits for it before committing. */
  gate: Promise<void> | undefined;
}

export async function controlledSink(): Promise<ControlledSink> {
  const inner = new SqliteSink('default', { path: join(mkdtempSync(join(tmpdir(), 'tiq-writer-')), 'w.db'), durability: 'process' });
  await inner.start();
  const control: ControlledSink = {
    inner,
    committedBatches: [],
    down: false,
    gate: undefined,
    sink: Object.assign(Object.create(inner) as StorageSink, {
      async writeBatch(records: readonly SealedRecord[]): Promise<WriteResult> {
        if (control.gate) await control.gate;
        if (control.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        const result = await inner.writeBatch(records);
        control.committedBatches.push(records.length);
        return result;
      },
    }),
  };
  return control;
}

export function settled(p: Promise<unknown>): { readonly done: boolean } {
  const state = { done: false };
  p.then(() => { state.done = true; }, () => { state.done = true; });
  return state;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
