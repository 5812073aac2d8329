/**
 * A bounded FIFO of messages held for the bus while NATS is unreachable:
 * past its limit the oldest message makes room for the newest (live data
 * loses its worth with age), and the caller counts what was dropped.
 */
export class PendingQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(readonly limit: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds an item; returns how many old items were dropped to make room (0, or 1; all when the limit is 0). */
  push(item: T): number {
    if (this.limit === 0) return 1;
    this.items.push(item);
    if (this.length <= this.limit) return 0;
    this.items[this.head++] = undefined;
    this.compact();
    return 1;
  }

  /** Takes every item, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  private compact(): void {
    // Amortised O(1): the dead prefix is cut once it is as long as the live part.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
