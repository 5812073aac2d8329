/**
 * What both backends share: the in-memory replica, the listeners, and the
 * pump that applies change rows in version order. A backend supplies the
 * snapshot, the transaction and the change query; it calls catchUp()
 * whenever it learns that something may have changed (its own commit, a
 * NOTIFY, a data_version bump, the backstop poll). Catch-ups never overlap,
 * so events reach listeners exactly once and in order.
 */
import type { ControlKind, ControlValues } from './control-kinds.ts';
import { CONTROL_KINDS } from './control-kinds.ts';
import type { ChangeEvent, ChangeEventOf, ChangeListener, ChangeRow, ControlStore, ControlStoreLogger, ControlWrite } from './control-store.ts';
import { toEvent } from './control-store.ts';

export interface Snapshot {
  readonly version: number;
  readonly rows: readonly { kind: string; key: string; value: string }[];
}

const CATCH_UP_BATCH = 1000;

export abstract class ReplicatedControlStore implements ControlStore {
  abstract readonly backend: 'sqlite' | 'postgres';
  #version = 0;
  readonly #state = new Map<ControlKind, Map<string, unknown>>(CONTROL_KINDS.map((k) => [k, new Map()]));
  readonly #listeners = new Set<ChangeListener>();
  #pump: Promise<void> = Promise.resolve();
  #again = false;
  #running = false;
  protected closed = false;

  constructor(protected readonly log?: ControlStoreLogger) {}

  protected abstract readSnapshot(): Promise<Snapshot>;
  protected abstract readChanges(afterVersion: number, limit: number): Promise<ChangeRow[]>;
  /** Commits the writes and their change rows in one transaction; returns each write's version. */
  protected abstract commit(writes: readonly ControlWrite[], actor: string, atMs: number): Promise<number[]>;

  get version(): number {
    return this.#version;
  }

  /** Loads the replica; backends call it once when opening. */
  protected async loadSnapshot(): Promise<void> {
    const snap = await this.readSnapshot();
    for (const row of snap.rows) this.#state.get(row.kind as ControlKind)?.set(row.key, JSON.parse(row.value));
    this.#version = snap.version;
  }

  get<K extends ControlKind>(kind: K, key: string): ControlValues[K] | undefined {
    return this.#state.get(kind)?.get(key) as ControlValues[K] | undefined;
  }

  entries<K extends ControlKind>(kind: K): ReadonlyMap<string, ControlValues[K]> {
    return this.#state.get(kind) as Map<string, ControlValues[K]>;
  }

  async write(writes: readonly ControlWrite[], actor: string): Promise<ChangeEvent[]> {
    if (this.closed) throw new Error('control store is closed');
    if (writes.length === 0) return [];
    const atMs = Date.now();
    const versions = await this.commit(writes, actor, atMs);
    await this.catchUp();
    return writes.map((w, i) => ({ version: versions[i]!, kind: w.kind, key: w.key, value: w.value, actor, atMs }) as ChangeEvent);
  }

  async put<K extends ControlKind>(kind: K, key: string, value: ControlValues[K], actor: string): Promise<ChangeEventOf<K>> {
    return (await this.write([{ kind, key, value } as ControlWrite], actor))[0] as ChangeEventOf<K>;
  }

  async delete(kind: ControlKind, key: string, actor: string): Promise<ChangeEvent> {
    return (await this.write([{ kind, key, value: undefined } as ControlWrite], actor))[0]!;
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async changesSince(version: number, limit = CATCH_UP_BATCH): Promise<ChangeEvent[]> {
    return (await this.readChanges(version, limit)).map(toEvent);
  }

  /**
   * Resolves once every change committed before the call is applied. A call
   * during a run schedules one more run (whatever it signals may have been
   * committed after the running query read).
   */
  catchUp(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#pump;
    }
    this.#running = true;
    this.#pump = (async () => {
      try {
        do {
          this.#again = false;
          await this.applyPending();
        } while (this.#again && !this.closed);
      } finally {
        this.#running = false;
      }
    })();
    return this.#pump;
  }

  private async applyPending(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const rows = await this.readChanges(this.#version, CATCH_UP_BATCH);
      for (const row of rows) this.apply(toEvent(row));
      if (rows.length < CATCH_UP_BATCH) return;
    }
  }

  private apply(event: ChangeEvent): void {
    if (event.version <= this.#version) return;
    const entries = this.#state.get(event.kind);
    if (entries) {
      if (event.value === undefined) entries.delete(event.key);
      else entries.set(event.key, event.value);
    }
    this.#version = event.version;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        // One failing consumer must not stop the feed for the others.
        this.log?.error({ event: 'control_listener_failed', code: 'TIQ_ERR_CONTROL_STORE', kind: event.kind, version: event.version, reason: (err as Error).message }, 'a control-store change listener failed');
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.#listeners.clear();
    await this.#pump.catch(() => undefined);
  }
}
