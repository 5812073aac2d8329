/**
 * Private mode: a driver or operator switches a device's location tracking
 * off (EDPB Guidelines 01/2020 on connected vehicles, §2.1.3: a "privacy
 * mode" the driver can activate; CNIL deliberation 2015-165 art. 4: employees
 * may deactivate geolocation outside working time).
 *
 * State is the control store (`private-mode` kind, keyed `tenant/device`,
 * with time, actor and source of the last change), so a toggle made through
 * any gateway sharing the store, or the offline CLI, reaches every gateway
 * through the change feed. Privacy first: a toggle is in force in this
 * process the moment it is asked for, before its commit resolves; a failed
 * commit withdraws it and the caller reports the failure (the device resends).
 * Older versions kept a JSONL log (`<dataDir>/privacy/private-mode.jsonl`);
 * it is imported once.
 */
import { join } from 'node:path';
import type { ControlStore, ControlWrite } from '../control/control-store.ts';
import { deviceKey } from '../control/control-kinds.ts';
import type { LegacySource } from '../control/legacy-import.ts';

export type PrivateModeSource = 'message' | 'control-topic' | 'api' | 'cli';

export interface PrivateModeToggle {
  readonly timeMs: number;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly on: boolean;
  readonly actor: string;
  readonly source: PrivateModeSource;
}

/** What the engine reads: a synchronous lookup, asked per message. */
export interface PrivateModeState {
  isOn(tenantId: string, deviceId: string): boolean;
}

/** What the engine writes through when a message carries the flag. */
export interface PrivateModeSwitch extends PrivateModeState {
  set(tenantId: string, deviceId: string, on: boolean, actor: string, source: PrivateModeSource): boolean | Promise<boolean>;
}

export interface PrivateModeRegistry extends PrivateModeSwitch {
  /**
   * Records a change; resolves true once committed when the state changed,
   * false when it was already so (nothing written). In force here at once.
   */
  set(tenantId: string, deviceId: string, on: boolean, actor: string, source: PrivateModeSource): Promise<boolean>;
  /** Devices currently in private mode, as `tenant/device`. */
  list(): readonly string[];
}

export const PRIVATE_MODE_LOG = 'private-mode.jsonl';

/** The one-time import of an older version's toggle log: the last toggle of each device. */
export function privateModeFileSource(privacyDir: string): LegacySource {
  return {
    name: PRIVATE_MODE_LOG, path: join(privacyDir, PRIVATE_MODE_LOG),
    parse: (text) => {
      const last = new Map<string, PrivateModeToggle>();
      for (const line of text.split('\n')) {
        const t = parseToggle(line);
        if (t) last.set(deviceKey(t.tenantId, t.deviceId), t);
      }
      return [...last].map(([key, t]): ControlWrite => ({
        kind: 'private-mode', key, value: { on: t.on, timeMs: t.timeMs, actor: t.actor, source: t.source },
      }));
    },
  };
}

/** One line of the older log; a torn last line after a crash (the toggle never completed) is skipped. */
function parseToggle(line: string): PrivateModeToggle | undefined {
  if (!line.trim()) return undefined;
  try {
    const t = JSON.parse(line) as Partial<PrivateModeToggle>;
    if (typeof t.tenantId !== 'string' || typeof t.deviceId !== 'string' || typeof t.on !== 'boolean') return undefined;
    const source = t.source === 'message' || t.source === 'control-topic' || t.source === 'api' || t.source === 'cli' ? t.source : 'api';
    return { timeMs: Number(t.timeMs ?? 0), tenantId: t.tenantId, deviceId: t.deviceId, on: t.on, actor: String(t.actor ?? 'unknown'), source };
  } catch {
    return undefined;
  }
}

export function createPrivateModeRegistry(store: ControlStore, now: () => number = Date.now): PrivateModeRegistry {
  /** Toggles asked for and not yet committed: they win over the replica (privacy first). */
  const pending = new Map<string, { readonly on: boolean }>();
  const isOn = (t: string, d: string): boolean => {
    const k = deviceKey(t, d);
    return pending.get(k)?.on ?? store.get('private-mode', k)?.on === true;
  };
  return {
    isOn,
    list: () => [...new Set([...store.entries('private-mode').keys(), ...pending.keys()])]
      .filter((k) => { const [t = '', d = ''] = k.split('/'); return isOn(t, d); }).sort(),
    async set(tenantId, deviceId, wantOn, actor, source) {
      if (isOn(tenantId, deviceId) === wantOn) return false;
      const k = deviceKey(tenantId, deviceId);
      const mine = { on: wantOn };
      pending.set(k, mine);
      try {
        await store.put('private-mode', k, { on: wantOn, timeMs: now(), actor, source }, actor);
        return true;
      } finally {
        // A later toggle of the same device owns the entry now; leave it.
        if (pending.get(k) === mine) pending.delete(k);
      }
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

/** A state without persistence, for previews and tests that need none. */
export function createInMemoryPrivateModeState(): PrivateModeSwitch {
  const on = new Set<string>();
  return {
    isOn: (t, d) => on.has(deviceKey(t, d)),
    set(t, d, wantOn) {
      const k = deviceKey(t, d);
      if (on.has(k) === wantOn) return false;
      if (wantOn) on.add(k);
      else on.delete(k);
      return true;
    },
  };
}
