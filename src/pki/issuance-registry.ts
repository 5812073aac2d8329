/**
 * The issuance registry: every certificate the gateway's CA issues, with its
 * serial, identity and status. Revocation is a status change here; the TLS
 * listener consults it on every new connection (resumed ones included, since
 * Node keeps the peer certificate on resumed sessions).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from './secure-files.ts';

export interface IssuedRecord {
  readonly serial: string;
  readonly uri: string;
  readonly kind: 'device' | 'app' | 'operator' | 'server';
  readonly tenantId?: string;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAt: string;
  status: 'active' | 'revoked';
  revokedAt?: string;
  revokedBy?: string;
}

interface RegistryFile {
  readonly version: 1;
  readonly certificates: IssuedRecord[];
}

export class IssuanceRegistry {
  private records: IssuedRecord[] = [];
  private revoked = new Set<string>();
  private loadedMtimeMs = -1;

  constructor(readonly path: string) {
    this.reload();
  }

  /** Re-reads the file when it changed on disk (another process issued or revoked). */
  reload(): void {
    if (!existsSync(this.path)) return;
    const mtime = statSync(this.path).mtimeMs;
    if (mtime === this.loadedMtimeMs) return;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as RegistryFile;
    this.records = parsed.certificates;
    this.revoked = new Set(this.records.filter((r) => r.status === 'revoked').map((r) => normaliseSerial(r.serial)));
    this.loadedMtimeMs = mtime;
  }

  isRevoked(serial: string): boolean {
    return this.revoked.has(normaliseSerial(serial));
  }

  list(filter: { tenantId?: string } = {}): readonly IssuedRecord[] {
    this.reload();
    return this.records.filter((r) => filter.tenantId === undefined || r.tenantId === filter.tenantId);
  }

  add(record: Omit<IssuedRecord, 'status'>): void {
    this.reload();
    this.records.push({ ...record, status: 'active' });
    this.save();
  }

  /** Returns the revoked records (all active certificates of the identity, or the one serial). */
  revoke(match: { serial?: string; uri?: string }, actor: string): IssuedRecord[] {
    this.reload();
    const now = new Date().toISOString();
    const hits = this.records.filter((r) => r.status === 'active' &&
      ((match.serial !== undefined && normaliseSerial(r.serial) === normaliseSerial(match.serial)) ||
       (match.uri !== undefined && r.uri === match.uri)));
    for (const r of hits) {
      r.status = 'revoked';
      r.revokedAt = now;
      r.revokedBy = actor;
      this.revoked.add(normaliseSerial(r.serial));
    }
    if (hits.length) this.save();
    return hits;
  }

  private save(): void {
    const file: RegistryFile = { version: 1, certificates: this.records };
    writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n', 0o600);
    this.loadedMtimeMs = statSync(this.path).mtimeMs;
  }
}

/** Serials compare as lower-case hex without leading zeros (OpenSSL and forge print them differently). */
export function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}
