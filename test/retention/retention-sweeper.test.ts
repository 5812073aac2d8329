/**
 * The sweeper never sweeps on stale legal-hold flags: until a reconcile
 * (which applies the config file's holds to the stored records) has
 * succeeded, each run reconciles first, and a run whose reconcile fails
 * deletes nothing. The service here records calls; RetentionService itself
 * is tested against real sinks (test/cli/promises-legal-hold.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { RetentionService } from '../../src/retention/retention-service.ts';
import { RetentionSweeper } from '../../src/retention/retention-sweeper.ts';

function recordingService(failReconciles: number) {
  const calls: string[] = [];
  let failures = failReconciles;
  const service = {
    reconcile: () => {
      calls.push('reconcile');
      if (failures-- > 0) return Promise.reject(Object.assign(new Error('store down'), { code: 'TIQ_ERR_STORE_UNAVAILABLE' }));
      return Promise.resolve({ retagged: 0, flagged: 0 });
    },
    refresh: () => { calls.push('refresh'); return Promise.resolve({ retagged: 0, flagged: 0 }); },
    sweep: () => { calls.push('sweep'); return Promise.resolve({ deleted: 0, partitionsDropped: 0, sinks: {} }); },
  };
  return { calls, service: service as unknown as RetentionService };
}

describe('RetentionSweeper', () => {
  it('after a failed reconcile at start, reconciles again before sweeping, and sweeps nothing while it fails', async () => {
    const { calls, service } = recordingService(2);
    const sweeper = new RetentionSweeper(service, { intervalMs: 3_600_000 });
    await sweeper.start();
    await expect(sweeper.sweepNow()).rejects.toMatchObject({ code: 'TIQ_ERR_STORE_UNAVAILABLE' });
    await sweeper.sweepNow();
    await sweeper.sweepNow();
    expect(calls).toEqual(['reconcile', 'reconcile', 'reconcile', 'sweep', 'refresh', 'sweep']);
    await sweeper.close();
  });

  it('a failed reconcile after a reload makes the next run reconcile too', async () => {
    const { calls, service } = recordingService(0);
    const sweeper = new RetentionSweeper(service, { intervalMs: 3_600_000 });
    await sweeper.start();
    await sweeper.sweepNow();
    (service as unknown as { reconcile: () => Promise<unknown> }).reconcile = () => { calls.push('reconcile-fails'); return Promise.reject(new Error('store down')); };
    await expect(sweeper.reconcileNow()).rejects.toThrow();
    await expect(sweeper.sweepNow()).rejects.toThrow();
    expect(calls).toEqual(['reconcile', 'refresh', 'sweep', 'reconcile-fails', 'reconcile-fails']);
    await sweeper.close();
  });
});
