/**
 * The device key vault: each device's key-encryption key (device KEK),
 * wrapped under its tenant's KEK, in a small SQLite file of the key store,
 * never in a telemetry database or the control store. Erasure deletes the
 * device's row, so every copy of the device's wrapped data keys (a database
 * backup, a WAL, a PostgreSQL dead tuple) is left without a key that opens it.
 *
 * - `secure_delete=ON`: SQLite overwrites deleted content with zeros
 *   (https://www.sqlite.org/pragma.html#pragma_secure_delete).
 * - `journal_mode=DELETE`: no WAL keeping old page versions; the rollback
 *   journal exists only during a write and is deleted at commit.
 * - One row per device (B-tree): 100k devices never rewrite one big file.
 * - Tombstones (tenant, device, destroyed KEK refs, time, receipt id; no key
 *   material) stay here, because a restore rolls the control store back.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { TiqError } from '../errors.ts';

export const DEVICE_KEK_PREFIX = 'device:';
/** `application_id` of the vault file ("TQDV"), so a wrong file is told apart. */
const APPLICATION_ID = 0x54514456;

export interface StoredDeviceKek {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly generation: number;
  readonly kekRef: string;
  /** The device KEK wrapped under the tenant's KEK (by the tenant's key provider). */
  readonly wrapped: Buffer;
  readonly tenantKekRef: string;
  readonly createdAtMs: number;
}

export interface VaultTombstone {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly kekRefs: readonly string[];
  readonly destroyedAtMs: number;
  readonly receiptId: string;
}

export interface DestroyRequest {
  readonly receiptId: string;
  readonly atMs: number;
  /** Destroy only a KEK made at or before this time (a tombstone applied later spares a newer KEK). */
  readonly createdAtOrBeforeMs?: number;
}

/** `device:<tenant>:<device>:<generation>`; ids never contain ':' (ID_PATTERN). */
export function deviceKekRef(tenantId: string, deviceId: string, generation: number): string {
  return `${DEVICE_KEK_PREFIX}${tenantId}:${deviceId}:${generation}`;
}

export function isDeviceKekRef(kekRef: string): boolean {
  return kekRef.startsWith(DEVICE_KEK_PREFIX);
}

export function parseDeviceKekRef(kekRef: string): { tenantId: string; deviceId: string; generation: number } | undefined {
  const m = /^device:([a-z0-9][a-z0-9-]{0,62}):([a-z0-9][a-z0-9-]{0,62}):([1-9][0-9]{0,9})$/.exec(kekRef);
  return m?.[1] && m[2] && m[3] ? { tenantId: m[1], deviceId: m[2], generation: Number(m[3]) } : undefined;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS device_keks (
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  wrapped BLOB NOT NULL,
  tenant_kek_ref TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
CREATE TABLE IF NOT EXISTS device_generations (
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  last_generation INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
CREATE TABLE IF NOT EXISTS tombstones (
  receipt_id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  kek_refs TEXT NOT NULL,
  destroyed_at_ms INTEGER NOT NULL
);
`;

interface KekRow { tenant_id: string; device_id: string; generation: number; wrapped: Uint8Array; tenant_kek_ref: string; created_at_ms: number }

function fromRow(r: KekRow): StoredDeviceKek {
  return {
    tenantId: r.tenant_id, deviceId: r.device_id, generation: Number(r.generation),
    kekRef: deviceKekRef(r.tenant_id, r.device_id, Number(r.generation)),
    wrapped: Buffer.from(r.wrapped), tenantKekRef: r.tenant_kek_ref, createdAtMs: Number(r.created_at_ms),
  };
}

/** Created owner-only before SQLite opens it (SQLite gives its journal the same mode). */
function createOwnerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const mode = statSync(path, { throwIfNoEntry: false })?.mode;
  if (mode === undefined) closeSync(openSync(path, 'a', 0o600));
  else if ((mode & 0o077) !== 0) chmodSync(path, mode & 0o600);
}

type Awaitable<T> = T | Promise<T>;

/**
 * What device KEKs are kept in: this SQLite file for a single gateway, a
 * PostgreSQL table shared by every node in cluster mode (a device's records
 * must open on whichever node reads them). Reads and writes may be
 * asynchronous; none is on the per-message path (only DEK creation and
 * opening, shreds and rotations touch the vault).
 */
export interface DeviceKekStore {
  get(tenantId: string, deviceId: string): Awaitable<StoredDeviceKek | undefined>;
  getByRef(kekRef: string): Awaitable<StoredDeviceKek | undefined>;
  insertManyIfAbsent(rows: readonly NewDeviceKek[]): Awaitable<StoredDeviceKek[]>;
  destroy(tenantId: string, deviceId: string, request: DestroyRequest): Awaitable<string[]>;
  hasTombstone(receiptId: string): Awaitable<boolean>;
  listTombstones(): Promise<readonly VaultTombstone[]>;
  listTenant(tenantId: string, options?: { afterDeviceId?: string; limit?: number }): Awaitable<StoredDeviceKek[]>;
  updateWrapped(updates: readonly { readonly kek: StoredDeviceKek; readonly wrapped: Buffer; readonly tenantKekRef: string }[]): Awaitable<number>;
  countByTenantKek(tenantId: string): Awaitable<Map<string, number>>;
  close(): Awaitable<void>;
}

/** The last generation a device's KEK had: a new one after erasure is never an old one again. */
export interface DeviceGeneration {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly lastGeneration: number;
}

/** A device KEK to store: wrapped under the tenant KEK `tenantKekRef`. */
export interface NewDeviceKek {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly wrapped: Buffer;
  readonly tenantKekRef: string;
  readonly createdAtMs: number;
}

export class DeviceKeyVault implements DeviceKekStore {
  readonly #db: Database;

  private constructor(readonly path: string, db: Database) {
    this.#db = db;
  }

  /** Opens (creating, mode 0600) the vault file; TIQ_ERR_KEYRING_SEALED when it is not a vault. */
  static open(path: string): DeviceKeyVault {
    let db: Database | undefined;
    try {
      createOwnerOnly(path);
      db = new BetterSqlite3(path);
      const appId = Number(db.pragma('application_id', { simple: true }));
      const empty = db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
      if (appId !== APPLICATION_ID && !(appId === 0 && empty.n === 0)) throw new Error('not a device key vault');
      db.pragma('journal_mode = DELETE');
      db.pragma('secure_delete = ON');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      return new DeviceKeyVault(path, db);
    } catch (err) {
      db?.close();
      throw new TiqError('TIQ_ERR_KEYRING_SEALED', `cannot open the device key vault ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  /** The device's live KEK, if it has one. */
  get(tenantId: string, deviceId: string): StoredDeviceKek | undefined {
    const row = this.#db.prepare('SELECT * FROM device_keks WHERE tenant_id = ? AND device_id = ?').get(tenantId, deviceId) as KekRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** The live KEK a reference names; undefined once destroyed (or never made). */
  getByRef(kekRef: string): StoredDeviceKek | undefined {
    const ref = parseDeviceKekRef(kekRef);
    if (!ref) return undefined;
    const kek = this.get(ref.tenantId, ref.deviceId);
    return kek?.generation === ref.generation ? kek : undefined;
  }

  /**
   * Stores a new generation for the device unless it already has a live KEK
   * (another caller won the race): returns whichever is live.
   */
  insertIfAbsent(tenantId: string, deviceId: string, wrapped: Buffer, tenantKekRef: string, createdAtMs: number): StoredDeviceKek {
    return this.insertManyIfAbsent([{ tenantId, deviceId, wrapped, tenantKekRef, createdAtMs }])[0]!;
  }

  /** insertIfAbsent for several devices in one transaction: one durable write for a burst of new devices. */
  insertManyIfAbsent(rows: readonly NewDeviceKek[]): StoredDeviceKek[] {
    return this.#db.transaction(() => rows.map((r) => this.#insertOne(r))).immediate();
  }

  #insertOne({ tenantId, deviceId, wrapped, tenantKekRef, createdAtMs }: NewDeviceKek): StoredDeviceKek {
    const live = this.get(tenantId, deviceId);
    if (live) return live;
    const last = this.#db.prepare('SELECT last_generation AS g FROM device_generations WHERE tenant_id = ? AND device_id = ?').get(tenantId, deviceId) as { g: number } | undefined;
    const generation = (last ? Number(last.g) : 0) + 1;
    this.#db.prepare(`INSERT INTO device_generations (tenant_id, device_id, last_generation) VALUES (?, ?, ?)
      ON CONFLICT (tenant_id, device_id) DO UPDATE SET last_generation = excluded.last_generation`).run(tenantId, deviceId, generation);
    this.#db.prepare('INSERT INTO device_keks (tenant_id, device_id, generation, wrapped, tenant_kek_ref, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)')
      .run(tenantId, deviceId, generation, wrapped, tenantKekRef, createdAtMs);
    return this.get(tenantId, deviceId)!;
  }

  /**
   * Destroys the device's KEK (securely deleted) and records a tombstone in
   * the same transaction. Returns the destroyed references (possibly none:
   * the tombstone is still recorded, a restore needs it).
   */
  destroy(tenantId: string, deviceId: string, request: DestroyRequest): string[] {
    return this.#db.transaction(() => {
      const live = this.get(tenantId, deviceId);
      const doomed = live && (request.createdAtOrBeforeMs === undefined || live.createdAtMs <= request.createdAtOrBeforeMs) ? live : undefined;
      if (doomed) this.#db.prepare('DELETE FROM device_keks WHERE tenant_id = ? AND device_id = ?').run(tenantId, deviceId);
      const kekRefs = doomed ? [doomed.kekRef] : [];
      this.#db.prepare(`INSERT INTO tombstones (receipt_id, tenant_id, device_id, kek_refs, destroyed_at_ms) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (receipt_id) DO NOTHING`).run(request.receiptId, tenantId, deviceId, JSON.stringify(kekRefs), request.atMs);
      return kekRefs;
    }).immediate();
  }

  hasTombstone(receiptId: string): boolean {
    return this.#db.prepare('SELECT 1 FROM tombstones WHERE receipt_id = ?').get(receiptId) !== undefined;
  }

  /** Every tombstone, oldest first: what a restore must re-apply. Names no key material. */
  async listTombstones(): Promise<readonly VaultTombstone[]> {
    const rows = this.#db.prepare('SELECT * FROM tombstones ORDER BY destroyed_at_ms, receipt_id').all() as
      { receipt_id: string; tenant_id: string; device_id: string; kek_refs: string; destroyed_at_ms: number }[];
    return rows.map((r) => ({
      tenantId: r.tenant_id, deviceId: r.device_id, kekRefs: JSON.parse(r.kek_refs) as string[],
      destroyedAtMs: Number(r.destroyed_at_ms), receiptId: r.receipt_id,
    }));
  }

  /** The tenant's device KEKs in device order, a page at a time (rotation re-wraps them). */
  listTenant(tenantId: string, options: { afterDeviceId?: string; limit?: number } = {}): StoredDeviceKek[] {
    const rows = this.#db.prepare('SELECT * FROM device_keks WHERE tenant_id = ? AND device_id > ? ORDER BY device_id LIMIT ?')
      .all(tenantId, options.afterDeviceId ?? '', options.limit ?? 500) as KekRow[];
    return rows.map(fromRow);
  }

  /**
   * Replaces the wrapping of live KEKs (same generation), a page in one
   * transaction (one fsync, not one per device). Returns how many were still
   * live; one destroyed meanwhile stays destroyed.
   */
  updateWrapped(updates: readonly { readonly kek: StoredDeviceKek; readonly wrapped: Buffer; readonly tenantKekRef: string }[]): number {
    const update = this.#db.prepare('UPDATE device_keks SET wrapped = ?, tenant_kek_ref = ? WHERE tenant_id = ? AND device_id = ? AND generation = ?');
    return this.#db.transaction(() => updates.reduce((n, u) => n + update.run(u.wrapped, u.tenantKekRef, u.kek.tenantId, u.kek.deviceId, u.kek.generation).changes, 0)).immediate();
  }

  /** Every live KEK and every device's last generation: what joining a cluster moves into the shared vault. */
  exportAll(): { keks: StoredDeviceKek[]; generations: DeviceGeneration[] } {
    const keks = (this.#db.prepare('SELECT * FROM device_keks ORDER BY tenant_id, device_id').all() as KekRow[]).map(fromRow);
    const generations = (this.#db.prepare('SELECT * FROM device_generations ORDER BY tenant_id, device_id').all() as { tenant_id: string; device_id: string; last_generation: number }[])
      .map((r) => ({ tenantId: r.tenant_id, deviceId: r.device_id, lastGeneration: Number(r.last_generation) }));
    return { keks, generations };
  }

  /** Deletes these KEKs (securely; same generation only), their tombstones and generations kept. Returns how many went. */
  forget(keks: readonly { readonly tenantId: string; readonly deviceId: string; readonly generation: number }[]): number {
    const del = this.#db.prepare('DELETE FROM device_keks WHERE tenant_id = ? AND device_id = ? AND generation = ?');
    return this.#db.transaction(() => keks.reduce((n, k) => n + del.run(k.tenantId, k.deviceId, k.generation).changes, 0)).immediate();
  }

  /** How many live device KEKs each tenant KEK reference wraps. */
  countByTenantKek(tenantId: string): Map<string, number> {
    const rows = this.#db.prepare('SELECT tenant_kek_ref AS ref, count(*) AS n FROM device_keks WHERE tenant_id = ? GROUP BY tenant_kek_ref')
      .all(tenantId) as { ref: string; n: number }[];
    return new Map(rows.map((r) => [r.ref, Number(r.n)]));
  }
}
