/**
 * Private mode: a driver or operator switches a device's location tracking
 * off (EDPB Guidelines 01/2020 on connected vehicles, §2.1.3: a "privacy
 * mode" the driver can activate; CNIL deliberation 2015-165 art. 4: employees
 * may deactivate geolocation outside working time).
 *
 * State lives in memory; every change is appended to a JSONL log (time,
 * tenant, device, on, actor, source) that is replayed at start, so the state
 * survives restarts and every toggle is accountable.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendLineDurable } from '../pki/secure-files.ts';

export type PrivateModeSource = 'message' | 'control-topic' | 'api';

export interface PrivateModeToggle {
  readonly timeMs: number;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly on: boolean;
  readonly actor: string;
  readonly source: PrivateModeSource;
}

/** What the engine needs; the registry below is the real one. */
export interface PrivateModeState {
  /** Records a change; returns true when the state changed (only changes are logged). */
  set(tenantId: string, deviceId: string, on: boolean, actor: string, source: PrivateModeSource): boolean;
  isOn(tenantId: string, deviceId: string): boolean;
}

export interface PrivateModeRegistry extends PrivateModeState {
  /** Devices currently in private mode, as `tenant/device`. */
  list(): readonly string[];
  /** Malformed log lines skipped at start (a torn last line after a crash). */
  readonly skippedLines: number;
}

export const PRIVATE_MODE_LOG = 'private-mode.jsonl';

export interface PrivateModeRegistryOptions {
  /** Directory of the toggle log, created if missing. */
  readonly dir: string;
  readonly now?: () => number;
}

const key = (t: string, d: string): string => `${t}/${d}`;

function replay(file: string, on: Set<string>): number {
  if (!existsSync(file)) return 0;
  let skipped = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const t = JSON.parse(line) as Partial<PrivateModeToggle>;
      if (typeof t.tenantId !== 'string' || typeof t.deviceId !== 'string' || typeof t.on !== 'boolean') { skipped++; continue; }
      if (t.on) on.add(key(t.tenantId, t.deviceId));
      else on.delete(key(t.tenantId, t.deviceId));
    } catch {
      skipped++;
    }
  }
  return skipped;
}

export function createPrivateModeRegistry(options: PrivateModeRegistryOptions): PrivateModeRegistry {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const file = join(options.dir, PRIVATE_MODE_LOG);
  const now = options.now ?? Date.now;
  const on = new Set<string>();
  const skippedLines = replay(file, on);
  return {
    skippedLines,
    isOn: (t, d) => on.has(key(t, d)),
    list: () => [...on].sort(),
    set(tenantId, deviceId, wantOn, actor, source) {
      const k = key(tenantId, deviceId);
      if (on.has(k) === wantOn) return false;
      const toggle: PrivateModeToggle = { timeMs: now(), tenantId, deviceId, on: wantOn, actor, source };
      // Written before the state changes: a toggle that is not on disk did not happen.
      appendLineDurable(file, JSON.stringify(toggle));
      if (wantOn) on.add(k);
      else on.delete(k);
      return true;
    },
  };
}

/**
 * Payload of `tenants/{t}/devices/{d}/control/private-mode`: JSON
 * {"privateMode": true|false}, or the text `on` / `off` (case-insensitive,
 * surrounding whitespace ignored). Anything else returns undefined.
 */
export function parsePrivateModeCommand(payload: Buffer): boolean | undefined {
  if (payload.length > 256) return undefined;
  const text = payload.toString('utf8').trim();
  const lower = text.toLowerCase();
  if (lower === 'on') return true;
  if (lower === 'off') return false;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const keys = Object.keys(v);
    const flag = (v as Record<string, unknown>).privateMode;
    return keys.length === 1 && typeof flag === 'boolean' ? flag : undefined;
  } catch {
    return undefined;
  }
}

/** A registry without a log, for previews and tests that do not need persistence. */
export function createInMemoryPrivateModeState(): PrivateModeState {
  const on = new Set<string>();
  return {
    isOn: (t, d) => on.has(key(t, d)),
    set(t, d, wantOn) {
      const k = key(t, d);
      if (on.has(k) === wantOn) return false;
      if (wantOn) on.add(k);
      else on.delete(k);
      return true;
    },
  };
}
