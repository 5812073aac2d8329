/**
 * Per-client ordering of authorizePublish callbacks.
 *
 * aedes dispatches every packet of one socket read concurrently, and releases
 * the PUBACK when authorizePublish calls back. Pipelines finish out of order
 * (a cold data key, a batch boundary), so callbacks are held here and fired
 * strictly in arrival order: [MQTT-4.6.0-2] requires PUBACKs in the order the
 * PUBLISH packets were received.
 *
 * A place in line is an object the caller owns (the publish hook's ticket),
 * not a closure per message: the hot path allocates nothing here.
 */
export interface Completion {
  /** Set by the owner once its outcome is known; `fire` runs when every earlier place has fired. */
  settled: boolean;
  fire(): void;
}

const noop = (): void => {};

export class OrderedCompletions {
  private readonly slots: Completion[] = [];
  private head = 0;

  /** Takes the next place in line for `c`; call settle(c) once its outcome is known. */
  enqueue(c: Completion): void {
    this.slots.push(c);
  }

  /** Marks `c` settled and fires every settled place at the head of the line, in order. */
  settle(c: Completion): void {
    c.settled = true;
    this.flush();
  }

  /** Reserves the next place in line for a one-off action; call the returned function once the work is done. */
  reserve(): (fire: () => void) => void {
    const slot: Completion = { settled: false, fire: noop };
    this.enqueue(slot);
    return (fire) => {
      slot.fire = fire;
      this.settle(slot);
    };
  }

  get pending(): number {
    return this.slots.length - this.head;
  }

  private flush(): void {
    while (this.head < this.slots.length && this.slots[this.head]!.settled) {
      const slot = this.slots[this.head]!;
      this.slots[this.head] = undefined as unknown as Completion;
      this.head++;
      slot.fire();
    }
    if (this.head > 64 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
  }
}
