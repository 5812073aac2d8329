/**
 * Restriction of processing (GDPR Art. 18) per device. `drop`: the device
 * stays connected, its messages are acknowledged but neither stored nor
 * forwarded; `refuse`: its connections are refused. The broker asks
 * isRestricted() per CONNECT and per PUBLISH (an in-memory map lookup).
 *
 * State is a JSON file written atomically (0600); another process (the CLI
 * with the gateway stopped) may change it, and reload() picks that up.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../pki/secure-files.ts';

export type RestrictionMode = 'none' | 'drop' | 'refuse';

export interface Restriction {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly mode: Exclude<RestrictionMode, 'none'>;
  readonly sinceMs: number;
  readonly actor: string;
  readonly reason: string;
}

interface RestrictionFile {
  readonly version: 1;
  readonly restrictions: Restriction[];
}

export const RESTRICTIONS_FILE = 'restrictions.json';

const key = (t: string, d: string): string => `${t}/${d}`;

export class RestrictionRegistry {
  private byDevice = new Map<string, Restriction>();
  private loadedMtimeMs = -1;

  /** `dir` is usually `<dataDir>/admin`. */
  constructor(readonly dir: string, private readonly now: () => number = Date.now) {
    this.reload();
  }

  get path(): string {
    return join(this.dir, RESTRICTIONS_FILE);
  }

  isRestricted(tenantId: string, deviceId: string): RestrictionMode {
    return this.byDevice.get(key(tenantId, deviceId))?.mode ?? 'none';
  }

  get(tenantId: string, deviceId: string): Restriction | undefined {
    return this.byDevice.get(key(tenantId, deviceId));
  }

  list(tenantId?: string): Restriction[] {
    return [...this.byDevice.values()].filter((r) => tenantId === undefined || r.tenantId === tenantId);
  }

  /** Sets (or with 'none' lifts) a restriction; written to disk before it takes effect. Returns the previous mode. */
  set(tenantId: string, deviceId: string, mode: RestrictionMode, actor: string, reason = ''): RestrictionMode {
    this.reload();
    const k = key(tenantId, deviceId);
    const previous = this.byDevice.get(k)?.mode ?? 'none';
    const next = new Map(this.byDevice);
    if (mode === 'none') next.delete(k);
    else next.set(k, { tenantId, deviceId, mode, sinceMs: this.now(), actor, reason });
    const file: RestrictionFile = { version: 1, restrictions: [...next.values()] };
    writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`, 0o600);
    this.byDevice = next;
    this.loadedMtimeMs = statSync(this.path).mtimeMs;
    return previous;
  }

  /** Re-reads the file when it changed on disk. */
  reload(): void {
    if (!existsSync(this.path)) return;
    const mtime = statSync(this.path).mtimeMs;
    if (mtime === this.loadedMtimeMs) return;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as RestrictionFile;
    this.byDevice = new Map(parsed.restrictions.map((r) => [key(r.tenantId, r.deviceId), r]));
    this.loadedMtimeMs = mtime;
  }
}
