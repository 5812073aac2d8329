/**
 * Live connections per key (a tenant, a source address), with a ceiling.
 * A key's entry disappears with its last connection, so the map never holds
 * more entries than there are connections.
 */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>();

  /** Takes a place for `key` unless `limit` are taken; the returned function gives it back (once). */
  acquire(key: string, limit: number): (() => void) | undefined {
    const n = this.counts.get(key) ?? 0;
    if (n >= limit) return undefined;
    this.counts.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    };
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Live counts, for metrics. */
  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  get keys(): number {
    return this.counts.size;
  }
}
