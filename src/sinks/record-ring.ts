/**
 * A single-producer, single-consumer ring of record batches in shared memory,
 * between the SQLite sink (main thread, producer) and its writer thread
 * (consumer). The producer packs each batch straight into the ring and wakes
 * the writer only when it sleeps; the writer takes every batch present after
 * each COMMIT and commits them together. Compared with one postMessage per
 * batch this allocates nothing per batch, copies nothing twice, and leaves the
 * writer no idle gap between commits while the main thread is busy: the group
 * commit is as large as whatever arrived during the previous one.
 *
 * Layout: frames of [u32 frame bytes][u32 payload bytes][payload], 4-byte
 * aligned. A frame that does not fit before the end of the ring starts at
 * offset 0; the skipped tail is marked with WRAP (or is shorter than a
 * header) and counts as used until the consumer releases it. `USED` is the
 * only shared cursor: the producer adds a frame's bytes after writing it, the
 * consumer subtracts them after its COMMIT returned (the payload stays valid
 * until then). Atomics order those writes (ECMAScript memory model,
 * "synchronizes-with"): what the producer wrote before its Atomics.add is
 * visible to a consumer whose Atomics.load sees the new value, and the other
 * way round for the space the consumer frees.
 */

const USED = 0;
/** Bumped by the producer after each frame (and on close): the futex word the consumer waits on. */
const SEQ = 1;
const CLOSING = 2;
/** 1 while the consumer sleeps (or is about to): only then does the producer pay for a notify. */
const SLEEPING = 3;
const CONTROL_INTS = 4;

const HEADER = 8;
const WRAP = 0xffff_ffff;

export interface RingMemory {
  readonly control: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
}

export function createRingMemory(capacityBytes: number): RingMemory {
  if (!Number.isInteger(capacityBytes) || capacityBytes < 64 || capacityBytes % 4 !== 0) {
    throw new RangeError('record ring: capacity must be a multiple of 4, at least 64 bytes');
  }
  return { control: new SharedArrayBuffer(CONTROL_INTS * 4), data: new SharedArrayBuffer(capacityBytes) };
}

const align4 = (n: number): number => (n + 3) & ~3;

/** The main thread's end: writes frames. */
export class RingProducer {
  readonly #control: Int32Array;
  readonly #data: Buffer;
  readonly #capacity: number;
  #at = 0;

  constructor(memory: RingMemory) {
    this.#control = new Int32Array(memory.control);
    this.#data = Buffer.from(memory.data);
    this.#capacity = memory.data.byteLength;
  }

  /** The largest payload a frame can carry: half the ring, so one frame never waits for the whole ring to drain. */
  get maxPayloadBytes(): number {
    return (this.#capacity >> 1) - HEADER;
  }

  /**
   * Writes one frame whose payload `fill` writes into the buffer it is given
   * (at most `maxBytes` long) and returns the bytes it used. False, with
   * nothing written, when the ring has no room for `maxBytes` now.
   */
  tryWrite(maxBytes: number, fill: (into: Buffer) => number): boolean {
    if (maxBytes > this.maxPayloadBytes) throw new RangeError(`record ring: a ${maxBytes}-byte frame is larger than ${this.maxPayloadBytes}`);
    const need = align4(HEADER + maxBytes);
    const tail = this.#capacity - this.#at;
    const skip = tail < need ? tail : 0;
    if (this.#capacity - Atomics.load(this.#control, USED) < skip + need) return false;
    const start = skip > 0 ? 0 : this.#at;
    // Nothing shared changes until fill returned: a fill that throws leaves the ring as it was.
    const used = fill(this.#data.subarray(start + HEADER, start + HEADER + maxBytes));
    if (!(used >= 0 && used <= maxBytes)) throw new RangeError(`record ring: fill reported ${used} bytes of ${maxBytes}`);
    if (skip > 0) this.#data.writeUInt32LE(WRAP, this.#at);
    const frame = align4(HEADER + used);
    this.#data.writeUInt32LE(frame, start);
    this.#data.writeUInt32LE(used, start + 4);
    this.#at = (start + frame) % this.#capacity;
    Atomics.add(this.#control, USED, skip + frame);
    this.#wake();
    return true;
  }

  /** Asks the consumer to stop once it has committed every frame written so far. */
  close(): void {
    Atomics.store(this.#control, CLOSING, 1);
    this.#wake();
  }

  #wake(): void {
    Atomics.add(this.#control, SEQ, 1);
    if (Atomics.load(this.#control, SLEEPING) === 1) Atomics.notify(this.#control, SEQ);
  }
}

/** One frame's payload, a view into the ring: valid until the consumer releases it. */
export type RingFrame = Buffer;

/** The writer thread's end: takes every frame present, releases them after its COMMIT. */
export class RingConsumer {
  readonly #control: Int32Array;
  readonly #data: Buffer;
  readonly #capacity: number;
  #at = 0;
  /** Bytes taken (frames and skipped tails) and not yet released. */
  #held = 0;

  constructor(memory: RingMemory) {
    this.#control = new Int32Array(memory.control);
    this.#data = Buffer.from(memory.data);
    this.#capacity = memory.data.byteLength;
  }

  /**
   * Every frame written and not yet taken, oldest first; sleeps until there is
   * one. An empty list means the producer closed the ring and nothing is left.
   */
  takeAll(): RingFrame[] {
    for (;;) {
      const seq = Atomics.load(this.#control, SEQ);
      const frames = this.#take();
      if (frames.length > 0) return frames;
      if (Atomics.load(this.#control, CLOSING) === 1) return frames;
      Atomics.store(this.#control, SLEEPING, 1);
      // Anything written after `seq` was read changed SEQ, so this returns at once rather than sleeping through it.
      Atomics.wait(this.#control, SEQ, seq);
      Atomics.store(this.#control, SLEEPING, 0);
    }
  }

  /** Frees the space of every frame taken so far (call after the COMMIT that used them). */
  release(): void {
    if (this.#held === 0) return;
    Atomics.sub(this.#control, USED, this.#held);
    this.#held = 0;
  }

  #take(): RingFrame[] {
    const frames: RingFrame[] = [];
    let unread = Atomics.load(this.#control, USED) - this.#held;
    while (unread > 0) {
      const tail = this.#capacity - this.#at;
      if (tail < 4 || this.#data.readUInt32LE(this.#at) === WRAP) {
        this.#held += tail;
        unread -= tail;
        this.#at = 0;
        continue;
      }
      const frame = this.#data.readUInt32LE(this.#at);
      const payload = this.#data.readUInt32LE(this.#at + 4);
      frames.push(this.#data.subarray(this.#at + HEADER, this.#at + HEADER + payload));
      this.#held += frame;
      unread -= frame;
      this.#at = (this.#at + frame) % this.#capacity;
    }
    return frames;
  }
}
