import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { importLegacyFiles } from '../../src/control/legacy-import.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { createPrivateModeRegistry, parsePrivateModeCommand, privateModeFileSource, PRIVATE_MODE_LOG } from '../../src/privacy/private-mode.ts';

const openStore = (path: string) => SqliteControlStore.open({ path });

describe('private-mode registry (control store)', () => {
  it('records only changes, with time, actor and source, and another connection sees them', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tiq-pm-')), 'control.db');
    const store = await openStore(path);
    let now = 1000;
    const reg = createPrivateModeRegistry(store, () => now++);
    expect(await reg.set('acme', 'truck-1', true, 'driver-app', 'control-topic')).toBe(true);
    expect(await reg.set('acme', 'truck-1', true, 'device:truck-1', 'message')).toBe(false);
    expect(await reg.set('acme', 'truck-2', true, 'operator:alice', 'api')).toBe(true);
    expect(await reg.set('acme', 'truck-2', false, 'operator:alice', 'api')).toBe(true);
    const history = (await store.changesSince(0)).filter((e) => e.kind === 'private-mode').map((e) => [e.key, e.value, e.actor]);
    expect(history).toEqual([
      ['acme/truck-1', { on: true, timeMs: 1000, actor: 'driver-app', source: 'control-topic' }, 'driver-app'],
      ['acme/truck-2', { on: true, timeMs: 1001, actor: 'operator:alice', source: 'api' }, 'operator:alice'],
      ['acme/truck-2', { on: false, timeMs: 1002, actor: 'operator:alice', source: 'api' }, 'operator:alice'],
    ]);
    const other = createPrivateModeRegistry(await openStore(path));
    expect(other.isOn('acme', 'truck-1')).toBe(true);
    expect(other.isOn('acme', 'truck-2')).toBe(false);
    expect(other.isOn('other', 'truck-1')).toBe(false);
    expect(other.list()).toEqual(['acme/truck-1']);
    // A change made through the other connection reaches the first one's registry.
    expect(await other.set('acme', 'truck-3', true, 'operator:bob', 'api')).toBe(true);
    await vi.waitFor(() => expect(reg.isOn('acme', 'truck-3')).toBe(true), { timeout: 1000, interval: 10 });
    await store.close();
  });

  it('is in force before the commit resolves, and a failed commit withdraws it', async () => {
    const store = await openStore(join(mkdtempSync(join(tmpdir(), 'tiq-pm-')), 'control.db'));
    const reg = createPrivateModeRegistry(store);
    const committing = reg.set('acme', 'truck-1', true, 'op', 'api');
    expect(reg.isOn('acme', 'truck-1')).toBe(true);
    await committing;
    await store.close();
    const failing = reg.set('acme', 'truck-1', false, 'op', 'api');
    expect(reg.isOn('acme', 'truck-1')).toBe(false);
    await expect(failing).rejects.toThrow();
    expect(reg.isOn('acme', 'truck-1')).toBe(true);
  });

  it('imports an older version\'s toggle log once: the last toggle of each device, a torn last line skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-pm-'));
    const privacyDir = join(dir, 'privacy');
    mkdirSync(privacyDir);
    writeFileSync(join(privacyDir, PRIVATE_MODE_LOG), [
      { timeMs: 1, tenantId: 'acme', deviceId: 'truck-1', on: true, actor: 'driver-app', source: 'control-topic' },
      { timeMs: 2, tenantId: 'acme', deviceId: 'truck-2', on: true, actor: 'operator:alice', source: 'api' },
      { timeMs: 3, tenantId: 'acme', deviceId: 'truck-2', on: false, actor: 'operator:alice', source: 'api' },
    ].map((l) => JSON.stringify(l)).join('\n') + '\n{"tenantId":"acme","devi');
    const store = await openStore(join(dir, 'control.db'));
    const logged: Record<string, unknown>[] = [];
    const log = { info: (f: Record<string, unknown>) => logged.push(f), warn: () => undefined, error: () => undefined };
    await importLegacyFiles(store, [privateModeFileSource(privacyDir)], log);
    const reg = createPrivateModeRegistry(store);
    expect([reg.isOn('acme', 'truck-1'), reg.isOn('acme', 'truck-2')]).toEqual([true, false]);
    expect(store.get('private-mode', 'acme/truck-1')).toEqual({ on: true, timeMs: 1, actor: 'driver-app', source: 'control-topic' });
    expect(logged).toEqual([expect.objectContaining({ event: 'control_imported', source: PRIVATE_MODE_LOG, entries: 2 })]);
    // Once: a toggle since then is not overwritten by a second start.
    await reg.set('acme', 'truck-1', false, 'op', 'api');
    await importLegacyFiles(store, [privateModeFileSource(privacyDir)], log);
    expect(reg.isOn('acme', 'truck-1')).toBe(false);
    expect(logged).toHaveLength(1);
    await store.close();
  });
});

describe('parsePrivateModeCommand', () => {
  it.each([
    ['{"privateMode":true}', true], ['{"privateMode": false}', false], ['on', true], [' OFF\n', false],
    ['{"privateMode":"true"}', undefined], ['{"privateMode":true,"x":1}', undefined], ['[true]', undefined],
    ['yes', undefined], ['', undefined], ['null', undefined],
  ])('%j → %s', (text, expected) => {
    expect(parsePrivateModeCommand(Buffer.from(text))).toBe(expected);
  });
});
