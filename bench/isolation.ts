/**
 * The isolation scenario: the gateway's tenant throughput with and without
 * one application of the same tenant that subscribes to everything and stops
 * reading, measured alternately in the same run (target: within 10 %).
 */
import type { GeneratorClient } from './generator-client.ts';
import { measureLoad, type LoadMeasurement } from './measure.ts';
import type { LoadSpec } from './publish-load.ts';
import type { RunningTarget } from './targets/target-process.ts';

export interface IsolationRow {
  readonly stalled: boolean;
  readonly m: LoadMeasurement;
}

export interface IsolationResult {
  readonly rows: readonly IsolationRow[];
  readonly withoutMsgsPerSec: number;
  readonly withMsgsPerSec: number;
  /** With over without: 1.0 means the stalled subscriber cost the tenant nothing. */
  readonly ratio: number;
}

/** `pairs` runs of each, alternating (without, with, with, without, ...) so drift favours neither. */
export async function runIsolation(target: RunningTarget, gen: GeneratorClient, specFor: (stalled: boolean, run: number) => LoadSpec,
  pairs: number, log: (msg: string) => void): Promise<IsolationResult> {
  const order = Array.from({ length: pairs }, (_, i) => (i % 2 === 0 ? [false, true] : [true, false])).flat();
  const rows: IsolationRow[] = [];
  for (const [i, stalled] of order.entries()) {
    const m = await measureLoad(target, gen, specFor(stalled, i));
    rows.push({ stalled, m });
    const s = m.stalledSubscriber;
    log(`isolation ${target.name} ${stalled ? 'with a stalled subscriber' : 'without'}: ${m.msgsPerSec.toFixed(0)} msgs/s, p99 ${m.latencyMs.p99} ms${s ? `, stalled subscriber ${s.disconnectedByBroker ? 'disconnected by the gateway' : 'still connected'}` : ''}`);
  }
  const mean = (stalled: boolean): number => {
    const xs = rows.filter((r) => r.stalled === stalled).map((r) => r.m.msgsPerSec);
    return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  };
  const without = mean(false);
  const withStalled = mean(true);
  return { rows, withoutMsgsPerSec: Math.round(without), withMsgsPerSec: Math.round(withStalled), ratio: Math.round((withStalled / Math.max(1, without)) * 100) / 100 };
}

export function isolationTable(r: IsolationResult): string {
  const lines = r.rows.map((row) => {
    const s = row.m.stalledSubscriber;
    const state = s ? (s.disconnectedByBroker ? 'disconnected by the gateway' : 'still connected at the end') : '';
    return `${row.stalled ? 'with one stalled subscriber' : 'without'}`.padEnd(28) + `${row.m.msgsPerSec.toFixed(0).padStart(8)} msgs/s  p99 ${String(row.m.latencyMs.p99).padStart(6)} ms  subscriber missing ${row.m.subscriber.missing}  ${state}`;
  });
  return [...lines, `with / without: ${r.ratio.toFixed(2)} (${r.withMsgsPerSec} / ${r.withoutMsgsPerSec} msgs/s)`].join('\n');
}
