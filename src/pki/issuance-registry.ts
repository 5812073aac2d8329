/**
 * The issuance registry: every certificate the gateway's CA issues, with its
 * serial, identity and status. What was issued is the CA's own record
 * (`registry.json` next to the CA, written when a certificate is made);
 * revocation is operator state and lives in the control store (`revocation`
 * kind), so a revocation made by any process reaches every gateway through
 * the change feed. The TLS listener consults isRevoked() on every new
 * connection (resumed ones included, since Node keeps the peer certificate
 * on resumed sessions).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { ControlStore, ControlWrite } from '../control/control-store.ts';
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
  private loadedMtimeMs = -1;

  /** `store` is needed to read or change revocations; issuing alone (the CA) needs only the file. */
  constructor(readonly path: string, private readonly store?: ControlStore) {
    this.reload();
  }

  /** Re-reads the file when it changed on disk (another process issued). */
  reload(): void {
    if (!existsSync(this.path)) return;
    const mtime = statSync(this.path).mtimeMs;
    if (mtime === this.loadedMtimeMs) return;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as RegistryFile;
    this.records = parsed.certificates;
    this.loadedMtimeMs = mtime;
  }

  /** A replica lookup: no I/O on the connection path. */
  isRevoked(serial: string): boolean {
    return this.controlStore().get('revocation', normaliseSerial(serial)) !== undefined;
  }

  /** Issued certificates with their current status (revocations from the control store). */
  list(filter: { tenantId?: string } = {}): readonly IssuedRecord[] {
    this.reload();
    return this.records.filter((r) => filter.tenantId === undefined || r.tenantId === filter.tenantId).map((r) => {
      const revoked = this.store?.get('revocation', normaliseSerial(r.serial));
      return revoked ? { ...r, status: 'revoked' as const, revokedAt: revoked.revokedAt, revokedBy: revoked.revokedBy } : r;
    });
  }

  /** Records an issued certificate (the CA's file). */
  add(record: Omit<IssuedRecord, 'status'>): void {
    this.reload();
    this.records.push({ ...record, status: 'active' });
    const file: RegistryFile = { version: 1, certificates: this.records };
    writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n', 0o600);
    this.loadedMtimeMs = statSync(this.path).mtimeMs;
  }

  /** Revokes all active certificates of the identity, or the one serial, in one transaction; returns them. */
  async revoke(match: { serial?: string; uri?: string }, actor: string): Promise<IssuedRecord[]> {
    const store = this.controlStore();
    const hits = this.list().filter((r) => r.status === 'active' &&
      ((match.serial !== undefined && normaliseSerial(r.serial) === normaliseSerial(match.serial)) ||
       (match.uri !== undefined && r.uri === match.uri)));
    const revokedAt = new Date().toISOString();
    const writes: ControlWrite[] = hits.map((r) => ({
      kind: 'revocation', key: normaliseSerial(r.serial), value: { serial: normaliseSerial(r.serial), uri: r.uri, revokedAt, revokedBy: actor },
    }));
    await store.write(writes, actor);
    return hits.map((r) => ({ ...r, status: 'revoked', revokedAt, revokedBy: actor }));
  }

  private controlStore(): ControlStore {
    if (!this.store) throw new Error('IssuanceRegistry: revocations need the control store');
    return this.store;
  }
}

/** Serials compare as lower-case hex without leading zeros (OpenSSL and forge print them differently). */
export function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}
