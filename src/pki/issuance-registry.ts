/**
 * The issuance registry: every certificate the gateway's CA issued, with its
 * serial, identity, validity, issuer actor and status. It lives in the
 * control store (`certificate` kind, keyed by serial; revocations in the
 * `revocation` kind), so an issuance or revocation made through any process
 * sharing the store is listed and enforced by every gateway. The
 * certificate files and the CA key stay with the CA.
 *
 * Tools that issue without the store (the simulator's own device
 * certificates, `pki init`'s server certificate) append to a journal next to
 * the CA (`registry.json`, the file older versions kept everything in);
 * listing includes its entries, and each start moves them into the store.
 * The TLS listener consults isRevoked() on every new connection (resumed
 * ones included, since Node keeps the peer certificate on resumed sessions).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IssuedCertificateValue } from '../control/control-kinds.ts';
import type { ControlStore, ControlStoreLogger, ControlWrite } from '../control/control-store.ts';
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
  readonly issuedBy?: string;
  status: 'active' | 'revoked';
  revokedAt?: string;
  revokedBy?: string;
}

/** What the CA knows when it signs. */
export type IssuedFacts = Omit<IssuedRecord, 'status' | 'revokedAt' | 'revokedBy' | 'issuedBy'>;

interface JournalFile {
  readonly version: 1;
  readonly certificates: IssuedRecord[];
}

export class IssuanceRegistry {
  private journal: IssuedRecord[] = [];
  private loadedMtimeMs = -1;

  /** `store` is needed to list, record, or revoke; appending to the journal (tools without a store) needs only the file. */
  constructor(readonly path: string, private readonly store?: ControlStore) {
    this.reload();
  }

  /** Re-reads the journal when it changed on disk (a tool without the store issued). */
  reload(): void {
    if (!existsSync(this.path)) return;
    const mtime = statSync(this.path).mtimeMs;
    if (mtime === this.loadedMtimeMs) return;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as JournalFile;
    this.journal = parsed.certificates;
    this.loadedMtimeMs = mtime;
  }

  /** A replica lookup: no I/O on the connection path. */
  isRevoked(serial: string): boolean {
    return this.controlStore().get('revocation', normaliseSerial(serial)) !== undefined;
  }

  /**
   * Issued certificates, oldest first, with their current status (revocations
   * from the control store). Filtered before anything is copied or sorted: a
   * fleet's registry is large and this runs on the event loop.
   */
  list(filter: { tenantId?: string; uri?: string } = {}): readonly IssuedRecord[] {
    this.reload();
    const store = this.controlStore();
    const wanted = (r: { tenantId?: string | undefined; uri: string }) =>
      (filter.tenantId === undefined || r.tenantId === filter.tenantId) && (filter.uri === undefined || r.uri === filter.uri);
    const issued = new Map<string, IssuedRecord>();
    for (const r of this.journal) if (wanted(r)) issued.set(normaliseSerial(r.serial), r);
    for (const [serial, v] of store.entries('certificate')) if (wanted(v)) issued.set(serial, { ...v, status: 'active' });
    return [...issued.values()]
      .sort((a, b) => a.issuedAt.localeCompare(b.issuedAt))
      .map((r) => {
        const revoked = store.get('revocation', normaliseSerial(r.serial));
        return revoked ? { ...r, status: 'revoked' as const, revokedAt: revoked.revokedAt, revokedBy: revoked.revokedBy } : { ...r, status: 'active' as const };
      });
  }

  /** Records an issued certificate in the control store, with who had it issued. */
  async record(facts: IssuedFacts, actor: string): Promise<void> {
    const serial = normaliseSerial(facts.serial);
    await this.controlStore().put('certificate', serial, toValue({ ...facts, serial }, actor), actor);
  }

  /** Appends to the journal: for tools that issue without the control store. */
  add(facts: IssuedFacts): void {
    this.reload();
    this.journal.push({ ...facts, status: 'active' });
    const file: JournalFile = { version: 1, certificates: this.journal };
    writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n', 0o600);
    this.loadedMtimeMs = statSync(this.path).mtimeMs;
  }

  /**
   * Moves what the journal holds and the store does not into the store, in
   * one transaction (at the first start: everything older versions issued).
   * Logged when there was anything; the file stays as it is.
   */
  async importJournal(log?: ControlStoreLogger): Promise<number> {
    this.reload();
    const store = this.controlStore();
    const writes: ControlWrite[] = this.journal.filter((r) => store.get('certificate', normaliseSerial(r.serial)) === undefined)
      .map((r) => ({ kind: 'certificate', key: normaliseSerial(r.serial), value: toValue({ ...r, serial: normaliseSerial(r.serial) }, r.issuedBy ?? 'system:import') }));
    if (writes.length === 0) return 0;
    await store.write(writes, 'system:import');
    log?.info({ event: 'control_imported', source: 'registry.json issued certificates', path: this.path, entries: writes.length },
      `recorded ${writes.length} issued certificates from ${this.path} in the control store`);
    return writes.length;
  }

  /** Revokes all active certificates of the identity, or the one serial, in one transaction; returns them. */
  async revoke(match: { serial?: string; uri?: string }, actor: string): Promise<IssuedRecord[]> {
    const store = this.controlStore();
    const hits = this.list(match.uri !== undefined && match.serial === undefined ? { uri: match.uri } : {}).filter((r) => r.status === 'active' &&
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
    if (!this.store) throw new Error('IssuanceRegistry: listing, recording and revoking need the control store');
    return this.store;
  }
}

function toValue(r: IssuedFacts & { issuedBy?: string }, actor: string): IssuedCertificateValue {
  return {
    serial: r.serial, uri: r.uri, kind: r.kind, ...(r.tenantId !== undefined ? { tenantId: r.tenantId } : {}),
    subject: r.subject, notBefore: r.notBefore, notAfter: r.notAfter, issuedAt: r.issuedAt, issuedBy: r.issuedBy ?? actor,
  };
}

/** Serials compare as lower-case hex without leading zeros (OpenSSL and forge print them differently). */
export function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}
