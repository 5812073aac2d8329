import { describe, expect, it } from 'vitest';
import { compileSchedule } from '../../src/privacy/schedule.ts';
import { ScheduleSchema } from '../../src/config/schedule-config.ts';
import { createPrivacyEngine } from '../../src/privacy/privacy-engine.ts';
import { input, vehicle } from './helpers.ts';

const nineToFive = ScheduleSchema.parse({
  workingHours: Object.fromEntries(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'].map((d) => [d, [{ from: '09:00', to: '17:00' }]])),
  exceptions: [{ date: '2024-12-25' }, { date: '2024-12-24', hours: [{ from: '09:00', to: '12:00' }] }],
});

/** Asserts the boundary: one millisecond before `utc` is `before`, `utc` itself is `after`. */
function boundary(tz: string, utc: string, before: boolean, after: boolean): void {
  const s = compileSchedule(nineToFive, tz);
  const t = Date.parse(utc);
  expect(s.isWorking(t - 1), `${tz} ${utc} - 1 ms`).toBe(before);
  expect(s.isWorking(t), `${tz} ${utc}`).toBe(after);
}

describe('schedule boundaries in several time zones', () => {
  it('UTC and a zone without DST at +05:30', () => {
    boundary('UTC', '2024-06-05T09:00:00Z', false, true);
    boundary('UTC', '2024-06-05T17:00:00Z', true, false);
    boundary('Asia/Kolkata', '2024-06-05T03:30:00Z', false, true);
    boundary('Asia/Kolkata', '2024-06-05T11:30:00Z', true, false);
  });

  it('Europe/Berlin across the spring-forward and fall-back days', () => {
    // 2024-03-30 is CET (+1), 2024-03-31 switches to CEST (+2) at 01:00 UTC.
    boundary('Europe/Berlin', '2024-03-30T08:00:00Z', false, true);
    boundary('Europe/Berlin', '2024-03-31T07:00:00Z', false, true);
    boundary('Europe/Berlin', '2024-03-31T15:00:00Z', true, false);
    // 2024-10-27 falls back to CET at 01:00 UTC.
    boundary('Europe/Berlin', '2024-10-26T07:00:00Z', false, true);
    boundary('Europe/Berlin', '2024-10-27T08:00:00Z', false, true);
    boundary('Europe/Berlin', '2024-10-27T16:00:00Z', true, false);
  });

  it('America/New_York and Australia/Sydney (southern hemisphere) on their DST days', () => {
    boundary('America/New_York', '2024-03-10T13:00:00Z', false, true); // EDT, -4
    boundary('America/New_York', '2024-03-09T14:00:00Z', false, true); // EST, -5
    boundary('America/New_York', '2024-11-03T14:00:00Z', false, true); // EST again
    // Sydney leaves DST at 03:00 AEDT on 7 April and enters it at 02:00 AEST on 6 October 2024.
    boundary('Australia/Sydney', '2024-04-06T23:00:00Z', false, true); // Sun 7 Apr 09:00 AEST (+10)
    boundary('Australia/Sydney', '2024-04-05T22:00:00Z', false, true); // Sat 6 Apr 09:00 AEDT (+11)
    boundary('Australia/Sydney', '2024-10-05T22:00:00Z', false, true); // Sun 6 Oct 09:00 AEDT (+11)
    boundary('Australia/Sydney', '2024-10-06T06:00:00Z', true, false); // 17:00 AEDT (+11)
  });

  it('exceptions replace the weekday: closed on 25 Dec, mornings on 24 Dec, local date decides', () => {
    const s = compileSchedule(nineToFive, 'Europe/Berlin');
    expect(s.isWorking(Date.parse('2024-12-25T10:00:00Z'))).toBe(false);
    expect(s.isWorking(Date.parse('2024-12-24T10:00:00Z'))).toBe(true);
    expect(s.isWorking(Date.parse('2024-12-24T11:00:00Z'))).toBe(false); // 12:00 local
    expect(s.isWorking(Date.parse('2024-12-26T10:00:00Z'))).toBe(true);
  });

  it('the engine strips outside working hours, judged by both the arrival and the device clock', () => {
    const engine = createPrivacyEngine({ tenants: { acme: { privacy: {
      policyId: 'p', version: 1, timezone: 'Europe/Berlin', defaults: { '*': { action: 'keep' } },
      schedule: { workingHours: { wed: [{ from: '08:00', to: '18:00' }] }, outside: 'strip' },
    } } } });
    const wedNoon = Date.parse('2024-06-05T10:00:00Z');
    const tueNight = Date.parse('2024-06-04T21:00:00Z');
    const inside = vehicle(52.5, 13.4, { timeUnixMs: wedNoon });
    expect(engine.apply(input(inside, { receivedAtMs: wedNoon })).applied.locationAction).toBe('keep');
    const recordedAtNight = vehicle(52.5, 13.4, { timeUnixMs: tueNight });
    expect(engine.apply(input(recordedAtNight, { receivedAtMs: wedNoon })).applied.locationAction).toBe('strip');
    expect('latitude' in recordedAtNight).toBe(false);
    const arrivedAtNight = vehicle(52.5, 13.4, { timeUnixMs: wedNoon });
    expect(engine.apply(input(arrivedAtNight, { receivedAtMs: tueNight })).applied.locationAction).toBe('strip');
  });
});
