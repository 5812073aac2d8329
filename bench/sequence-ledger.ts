/** What the subscriber received: per device, which sequence numbers, so loss and duplicates can be counted. */
export class SequenceLedger {
  private readonly seen = new Map<string, Uint8Array>();
  received = 0;
  unique = 0;
  duplicates = 0;
  unparsable = 0;

  constructor(private readonly base: number) {}

  receive(device: string, sequence: number | undefined): void {
    this.received++;
    if (sequence === undefined || sequence < this.base || !device) { this.unparsable++; return; }
    const i = sequence - this.base;
    let bits = this.seen.get(device);
    if (!bits || i >= bits.length) {
      const grown = new Uint8Array(Math.max(1024, (i + 1) * 2));
      if (bits) grown.set(bits);
      bits = grown;
      this.seen.set(device, bits);
    }
    if (bits[i]) { this.duplicates++; return; }
    bits[i] = 1;
    this.unique++;
  }

  summary(expected: number): { received: number; unique: number; duplicates: number; missing: number; unparsable: number } {
    return { received: this.received, unique: this.unique, duplicates: this.duplicates, missing: Math.max(0, expected - this.unique), unparsable: this.unparsable };
  }
}
