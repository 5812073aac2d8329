/**
 * Objections to processing for a purpose (GDPR Art. 21), per device: an
 * append-only JSONL record (0600) of who objected to what and when, which
 * purpose-specific consumers consult. Recording is all the gateway does
 * itself; it has no purpose-specific processing to stop.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendLineDurable } from '../pki/secure-files.ts';

export interface Objection {
  readonly timeMs: number;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly purpose: string;
  readonly actor: string;
  readonly reason: string;
}

export const OBJECTIONS_FILE = 'objections.jsonl';

export class ObjectionRegistry {
  constructor(readonly dir: string, private readonly now: () => number = Date.now) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  get path(): string {
    return join(this.dir, OBJECTIONS_FILE);
  }

  record(o: Omit<Objection, 'timeMs'>): Objection {
    const entry: Objection = { timeMs: this.now(), ...o };
    appendLineDurable(this.path, JSON.stringify(entry));
    return entry;
  }

  list(tenantId: string, deviceId: string): Objection[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8').split('\n').flatMap(parseLine)
      .filter((o) => o.tenantId === tenantId && o.deviceId === deviceId);
  }

  /** Whether the device's data may be used for the purpose. */
  objected(tenantId: string, deviceId: string, purpose: string): boolean {
    return this.list(tenantId, deviceId).some((o) => o.purpose === purpose);
  }
}

/** One objection per line; a torn last line (a crash mid-append: never acknowledged) is skipped. */
function parseLine(line: string): Objection[] {
  if (line.trim() === '') return [];
  try {
    return [JSON.parse(line) as Objection];
  } catch {
    return [];
  }
}
