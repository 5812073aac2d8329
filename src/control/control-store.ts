/**
 * The control store: one place for the operator-owned state, behind one
 * interface with a change feed. Every write appends change rows (one per
 * entry, each with the next version of a single monotonically increasing
 * sequence) and updates the current state in the same
 * transaction. Each open store keeps a replica of the whole state in memory,
 * so reads are synchronous map lookups (the broker asks per CONNECT and
 * PUBLISH), and follows the change rows in version order: its own writes,
 * and those of every other connection (the offline CLI, another gateway
 * process). Listeners get each change exactly once, in version order, after
 * the replica has applied it.
 */
import type { ControlKind, ControlValues } from './control-kinds.ts';

export interface ChangeEventOf<K extends ControlKind> {
  readonly version: number;
  readonly kind: K;
  readonly key: string;
  /** undefined: the entry was deleted. */
  readonly value: ControlValues[K] | undefined;
  readonly actor: string;
  readonly atMs: number;
}

/** A typed change event: switching on `kind` narrows `value`. */
export type ChangeEvent = { [K in ControlKind]: ChangeEventOf<K> }[ControlKind];

/** One entry to set (value) or delete (value undefined). */
export type ControlWrite = { [K in ControlKind]: { readonly kind: K; readonly key: string; readonly value: ControlValues[K] | undefined } }[ControlKind];

export type ChangeListener = (event: ChangeEvent) => void;

export interface ControlStore {
  readonly backend: 'sqlite' | 'postgres';
  /** The highest version this replica has applied. */
  readonly version: number;
  get<K extends ControlKind>(kind: K, key: string): ControlValues[K] | undefined;
  /** Every entry of a kind (a live view; do not keep it across awaits if you need a snapshot). */
  entries<K extends ControlKind>(kind: K): ReadonlyMap<string, ControlValues[K]>;
  /**
   * Writes all entries in one transaction; resolves once this replica has
   * applied them (read-your-writes), with their change events.
   */
  write(writes: readonly ControlWrite[], actor: string): Promise<ChangeEvent[]>;
  put<K extends ControlKind>(kind: K, key: string, value: ControlValues[K], actor: string): Promise<ChangeEventOf<K>>;
  delete(kind: ControlKind, key: string, actor: string): Promise<ChangeEvent>;
  /** Subscribes to the feed: every change applied after this call. Returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void;
  /** Change rows after `version`, oldest first (history and catch-up). */
  changesSince(version: number, limit?: number): Promise<ChangeEvent[]>;
  /** Applies whatever other connections committed, now. */
  catchUp(): Promise<void>;
  close(): Promise<void>;
}

export interface ControlStoreLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A row as both backends store it: the value as JSON text, null when deleted. */
export interface ChangeRow {
  readonly version: number;
  readonly kind: string;
  readonly key: string;
  readonly value: string | null;
  readonly actor: string;
  readonly atMs: number;
}

export function toEvent(row: ChangeRow): ChangeEvent {
  return {
    version: Number(row.version), kind: row.kind as ControlKind, key: row.key,
    value: row.value === null ? undefined : JSON.parse(row.value) as never, actor: row.actor, atMs: Number(row.atMs),
  } as ChangeEvent;
}

export function encodeValue(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
