import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isTiqError } from '../../src/errors.ts';
import { createPrivacyEngine } from '../../src/privacy/privacy-engine.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import type { ControlStore } from '../../src/control/control-store.ts';
import { createPrivateModeRegistry } from '../../src/privacy/private-mode.ts';
import { input, sensor, vehicle } from './helpers.ts';

const base = {
  policyId: 'fleet', version: 1,
  defaults: { '*': { action: 'coarsen', coarsen: { method: 'decimal', places: 2 } }, sensor: { action: 'keep' } },
  groups: [
    { group: 'drivers', rules: { location: { action: 'keep', fields: { speed: { round: 5 }, heading: { round: 45 }, altitude: 'strip' }, timeStepMs: 60_000 } } },
    { group: 'night', rules: { '*': { action: 'drop' } } },
  ],
  devices: { 'truck-9': { '*': { action: 'strip' } } },
  zones: [{ name: 'home', shape: 'circle', center: { lat: 1, lon: 1 }, radiusM: 1000, action: 'drop' }],
};
const groups = { drivers: ['truck-1', 'truck-9'], night: ['truck-1', 'truck-3'] };

function engine(privacy: unknown = base, store?: ControlStore) {
  const privateMode = store ? createPrivateModeRegistry(store) : undefined;
  return createPrivacyEngine({ tenants: { acme: { privacy, deviceGroups: groups }, other: { privacy: undefined } }, privateMode });
}

describe('rule resolution: device over first group over tenant defaults, per stream', () => {
  it('applies the first listed group, rounds leaking fields, strips unset ones under coarsen, floors time', () => {
    const e = engine();
    const body = vehicle(52.123456, 13.654321, { timeUnixMs: 1_717_581_659_999 });
    expect(e.apply(input(body))).toEqual({ kind: 'forward', applied: { policyId: 'fleet', policyVersion: 1, locationAction: 'keep' }, timeStepMs: 60_000 });
    expect(body).toMatchObject({ latitude: 52.123456, longitude: 13.654321, speedMps: 15, headingDeg: 270, accuracyM: 4.2, timeUnixMs: 1_717_581_600_000 });
    expect('altitudeM' in body).toBe(false);

    const coarse = vehicle(52.123456, 13.654321);
    e.apply(input(coarse, { deviceId: 'truck-2' }));
    expect(coarse).toMatchObject({ latitude: 52.12, longitude: 13.65, tripId: 't-1' });
    for (const k of ['altitudeM', 'speedMps', 'headingDeg', 'accuracyM']) expect(k in coarse).toBe(false);
  });

  it('a device rule beats its groups; a group without the stream falls through to the tenant', () => {
    const e = engine();
    expect(e.apply(input(vehicle(5, 5), { deviceId: 'truck-9' })).applied.locationAction).toBe('strip');
    expect(e.apply(input(vehicle(5, 5), { deviceId: 'truck-3' })).kind).toBe('drop');
    expect(e.apply(input(sensor(5, 5), { deviceId: 'truck-2', stream: 'sensor' })).applied.locationAction).toBe('keep');
  });

  it('tenants without a policy keep location as sent, under policy none', () => {
    const body = vehicle(5, 5);
    expect(engine().apply(input(body, { tenantId: 'other' })).applied).toEqual({ policyId: 'none', policyVersion: 0, locationAction: 'keep' });
    expect(body.latitude).toBe(5);
  });
});

describe('decision order: private mode, zones, schedule, rule', () => {
  it('private mode in the message strips even inside a drop zone, and is remembered in the control store', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tiq-pm-')), 'control.db');
    const store = await SqliteControlStore.open({ path });
    const e = engine(base, store);
    const body = vehicle(1, 1, { privateMode: true });
    expect(e.apply(input(body, { deviceId: 'truck-2' }))).toMatchObject({ kind: 'forward', applied: { locationAction: 'strip' } });
    expect('latitude' in body).toBe(false);
    const next = vehicle(20, 20);
    expect(e.apply(input(next, { deviceId: 'truck-2' })).applied.locationAction).toBe('strip');
    const other = await SqliteControlStore.open({ path });
    await vi.waitFor(() => expect(createPrivateModeRegistry(other).isOn('acme', 'truck-2')).toBe(true), { timeout: 1000, interval: 10 });
    expect(other.get('private-mode', 'acme/truck-2')).toMatchObject({ on: true, actor: 'device:truck-2', source: 'message' });
    const off = vehicle(20, 20, { privateMode: false });
    expect(e.apply(input(off, { deviceId: 'truck-2' })).applied.locationAction).toBe('coarsen');
    await vi.waitFor(() => expect(store.get('private-mode', 'acme/truck-2')?.on).toBe(false), { timeout: 1000, interval: 10 });
    await Promise.all([store.close(), other.close()]);
  });

  it('a zone wins over the device rule, and a coarsened centre inside a zone is not emitted', () => {
    const e = engine({ ...base, zones: [{ name: 'z', shape: 'circle', center: { lat: 3, lon: 3 }, radiusM: 10 }] });
    // 3.004 is outside the 10 m circle, but rounds to 3.00, its centre.
    const body = vehicle(3.004, 3.004);
    expect(e.apply(input(body, { deviceId: 'truck-2' })).applied.locationAction).toBe('strip');
    expect('latitude' in body).toBe(false);
  });
});

describe('hot reload', () => {
  it('swaps a valid policy in; an invalid one is refused with every problem and the old one stays', () => {
    const e = engine();
    e.update({ acme: { privacy: { ...base, version: 2, defaults: { '*': { action: 'strip' } } }, deviceGroups: groups } });
    expect(e.policyOf('acme')).toEqual({ policyId: 'fleet', policyVersion: 2 });
    const bad = { acme: { privacy: { ...base, version: 3, timezone: 'Mars/Olympus', defaults: { '*': { action: 'coarsen' } } }, deviceGroups: {} } };
    const problems = e.validate(bad);
    expect(problems).toEqual([
      'tenants.acme.privacy.timezone: unknown IANA time zone',
      'tenants.acme.privacy.defaults.*.coarsen: action coarsen needs a coarsen method (grid, geohash or decimal)',
    ]);
    let thrown: unknown;
    try { e.update(bad); } catch (err) { thrown = err; }
    expect(isTiqError(thrown) && thrown.code).toBe('TIQ_ERR_POLICY_INVALID');
    expect(isTiqError(thrown) && thrown.detail?.problems).toEqual(problems);
    expect(e.policyOf('acme')).toEqual({ policyId: 'fleet', policyVersion: 2 });
    expect(e.apply(input(vehicle(5, 5), { deviceId: 'truck-2' })).applied.locationAction).toBe('strip');
  });

  it('refuses a changed policy that keeps its version, accepts an unchanged one', () => {
    const e = engine();
    const same = { acme: { privacy: base, deviceGroups: groups } };
    expect(e.validate(same)).toEqual([]);
    const changed = { acme: { privacy: { ...base, zones: [] }, deviceGroups: groups } };
    expect(e.validate(changed)).toEqual(['tenants.acme.privacy.version: the policy changed, so its version must be higher than 1']);
  });

  it('refuses at construction too', () => {
    expect(() => engine({ policyId: 'x' })).toThrow(/TIQ_ERR_POLICY_INVALID/);
  });
});
