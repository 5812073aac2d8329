/**
 * Per-client ordering of authorizePublish callbacks.
 *
 * aedes dispatches every packet of one socket read concurrently, and releases
 * the PUBACK when authorizePublish calls back. Pipelines finish out of order
 * (a cold data key, a batch boundary), so callbacks are held here and fired
 * strictly in arrival order: [MQTT-4.6.0-2] requires PUBACKs in the order the
 * PUBLISH packets were received.
 */
interface Slot {
  settled: boolean;
  fire: (() => void) | undefined;
}

export class OrderedCompletions {
  private readonly slots: Slot[] = [];
  private head = 0;

  /** Reserves the next place in line; call the returned function once the work is done. */
  reserve(): (fire: () => void) => void {
    const slot: Slot = { settled: false, fire: undefined };
    this.slots.push(slot);
    return (fire) => {
      slot.settled = true;
      slot.fire = fire;
      this.flush();
    };
  }

  get pending(): number {
    return this.slots.length - this.head;
  }

  private flush(): void {
    while (this.head < this.slots.length && this.slots[this.head]!.settled) {
      const slot = this.slots[this.head]!;
      this.slots[this.head] = undefined as unknown as Slot;
      this.head++;
      slot.fire!();
    }
    if (this.head > 64 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
  }
}
