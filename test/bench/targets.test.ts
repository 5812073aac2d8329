import { describe, expect, it } from 'vitest';
import { targetChecks, targetTable, type Ratios } from '../../bench/report.ts';

const ratios = (over: Partial<Ratios>[]): Ratios[] => [
  { scenario: '20 dev × 64 B', throughputGatewayOverAedes: 0.8, throughputGatewayOverMosquitto: null, cpuPerMsgGatewayOverAedes: 1.4, cpuPerMsgAtFixedRateGatewayOverAedes: 2, p99AtHalfRateMs: { gateway: 9.5, aedes: 3 }, ...over[0] },
  { scenario: '200 dev × 512 B', throughputGatewayOverAedes: 0.79, throughputGatewayOverMosquitto: null, cpuPerMsgGatewayOverAedes: 1.5, cpuPerMsgAtFixedRateGatewayOverAedes: null, p99AtHalfRateMs: {}, ...over[1] },
];

describe('the per-message targets of a bench run', () => {
  it('checks each scenario against its own throughput floor, the CPU ceiling, the p99 and the memory ratio', () => {
    const checks = targetChecks(ratios([{}, {}]), 1.1);
    const met = Object.fromEntries(checks.map((c) => [c.target, c.met]));
    expect(met).toEqual({
      '20 dev × 64 B: msgs/s, gateway ÷ aedes': true,
      '20 dev × 64 B: CPU per message, gateway ÷ aedes': true,
      '20 dev × 64 B: gateway p99 at half its max, ms': true,
      // 0.79 is under the 0.8 floor of the larger scenario, though over the 0.75 of the smaller.
      '200 dev × 512 B: msgs/s, gateway ÷ aedes': false,
      '200 dev × 512 B: CPU per message, gateway ÷ aedes': true,
      'memory per idle connection, gateway ÷ aedes': true,
    });
  });

  it('fails a ratio past its limit and says when something was not measured', () => {
    const checks = targetChecks(ratios([{ cpuPerMsgGatewayOverAedes: 3.8, p99AtHalfRateMs: {} }, {}]), undefined);
    const byName = new Map(checks.map((c) => [c.target, c]));
    expect(byName.get('20 dev × 64 B: CPU per message, gateway ÷ aedes')).toMatchObject({ measured: 3.8, met: false });
    expect(byName.get('20 dev × 64 B: gateway p99 at half its max, ms')).toMatchObject({ measured: null, met: null });
    expect(byName.get('memory per idle connection, gateway ÷ aedes')?.met).toBeNull();
    const printed = targetTable(checks);
    expect(printed).toContain('NO');
    expect(printed).toContain('not measured');
  });
});
