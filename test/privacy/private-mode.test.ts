import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPrivateModeRegistry, parsePrivateModeCommand, PRIVATE_MODE_LOG } from '../../src/privacy/private-mode.ts';

describe('private-mode registry', () => {
  it('logs only changes, with time, actor and source, and restores state from the log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-pm-'));
    let now = 1000;
    const reg = createPrivateModeRegistry({ dir, now: () => now++ });
    expect(reg.set('acme', 'truck-1', true, 'driver-app', 'control-topic')).toBe(true);
    expect(reg.set('acme', 'truck-1', true, 'device:truck-1', 'message')).toBe(false);
    expect(reg.set('acme', 'truck-2', true, 'operator:alice', 'api')).toBe(true);
    expect(reg.set('acme', 'truck-2', false, 'operator:alice', 'api')).toBe(true);
    const lines = readFileSync(join(dir, PRIVATE_MODE_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([
      { timeMs: 1000, tenantId: 'acme', deviceId: 'truck-1', on: true, actor: 'driver-app', source: 'control-topic' },
      { timeMs: 1001, tenantId: 'acme', deviceId: 'truck-2', on: true, actor: 'operator:alice', source: 'api' },
      { timeMs: 1002, tenantId: 'acme', deviceId: 'truck-2', on: false, actor: 'operator:alice', source: 'api' },
    ]);
    appendFileSync(join(dir, PRIVATE_MODE_LOG), '{"tenantId":"acme","devi'); // torn write after a crash
    const restored = createPrivateModeRegistry({ dir });
    expect(restored.isOn('acme', 'truck-1')).toBe(true);
    expect(restored.isOn('acme', 'truck-2')).toBe(false);
    expect(restored.isOn('other', 'truck-1')).toBe(false);
    expect(restored.list()).toEqual(['acme/truck-1']);
    expect(restored.skippedLines).toBe(1);
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
