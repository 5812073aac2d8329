/**
 * Retained messages under privacy rules. aedes keeps the last retained
 * message of a topic and hands it to every new subscriber, long after the
 * device sent it; without this ledger a retained position would outlive the
 * device's erasure, a restriction, an objection or the policy it was made
 * under. Each retained message is stamped with the policy that produced it;
 * before a retained message is delivered its stamp is checked against the
 * state in force, and a stale one is removed from the broker, not delivered.
 * Erasure removes the device's retained messages at once.
 */
export interface RetainedStamp {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly policyId: string;
  readonly policyVersion: number;
}

/** What decides whether a retained message may still be delivered. */
export interface RetainedChecks {
  restriction(tenantId: string, deviceId: string): 'none' | 'drop' | 'refuse';
  objected(tenantId: string, deviceId: string): boolean;
  /** The policy in force for the tenant ('none', 0 when it has none). */
  policyOf(tenantId: string): { readonly policyId: string; readonly policyVersion: number };
}

/** Where the broker is in numbering its messages (aedes-packet's brokerId and brokerCounter). */
export interface BrokerNumbering {
  readonly brokerId: string | undefined;
  readonly counter: number | undefined;
}

export class RetainedLedger {
  private readonly stamps = new Map<string, RetainedStamp>();
  /** Erasures made while this process runs: the broker's numbering then, per device. */
  private readonly erasures = new Map<string, BrokerNumbering>();

  /**
   * `remove` deletes a topic's retained message from the broker's persistence;
   * `numbering` tells how far the broker has numbered its messages, so that
   * what a persistent session queued before an erasure is known as such.
   */
  constructor(private readonly checks: RetainedChecks, private readonly remove: (topic: string) => void,
    private readonly numbering: () => BrokerNumbering = () => ({ brokerId: undefined, counter: undefined })) {}

  get size(): number {
    return this.stamps.size;
  }

  /** A retained publish was accepted: the broker will keep it under this stamp. */
  note(topic: string, stamp: RetainedStamp): void {
    this.stamps.set(topic, stamp);
  }

  /** Whether the retained message of `topic` may go to a new subscriber; a stale one is removed. */
  mayDeliver(topic: string): boolean {
    const stamp = this.stamps.get(topic);
    if (stamp && this.current(stamp)) return true;
    this.drop(topic);
    return false;
  }

  /**
   * Whether a message stamped so may still be delivered (no restriction, no
   * objection, the policy still in force): also asked of what a resumed
   * session's queue hands over, which, like a retained message, was made
   * before the subscriber came.
   */
  isCurrent(stamp: RetainedStamp): boolean {
    return this.current(stamp);
  }

  /** Removes every retained message of one device (erasure), and remembers the erasure for queued ones; returns how many. */
  clearDevice(tenantId: string, deviceId: string): number {
    this.erasures.set(`${tenantId}/${deviceId}`, this.numbering());
    return this.clearWhere((s) => s.tenantId === tenantId && s.deviceId === deviceId);
  }

  /**
   * Whether a queued message of this device, numbered so by the broker that
   * published it, was made before the device's erasure. Only the erasures
   * of this process's lifetime count: its broker's queues live in memory. A
   * message numbered by another broker (cluster) cannot be placed in time,
   * so it counts as made before.
   */
  madeBeforeErasure(tenantId: string, deviceId: string, brokerId: string | undefined, counter: number | undefined): boolean {
    const erased = this.erasures.get(`${tenantId}/${deviceId}`);
    if (!erased) return false;
    if (erased.counter === undefined || brokerId !== erased.brokerId || counter === undefined) return true;
    return counter <= erased.counter;
  }

  /** Removes every retained message of one tenant; returns how many. */
  clearTenant(tenantId: string): number {
    return this.clearWhere((s) => s.tenantId === tenantId);
  }

  /** Removes the retained messages a change has made stale (policy, restriction, objection); returns how many. */
  sweep(): number {
    return this.clearWhere((s) => !this.current(s));
  }

  private current(s: RetainedStamp): boolean {
    if (this.checks.restriction(s.tenantId, s.deviceId) !== 'none') return false;
    if (this.checks.objected(s.tenantId, s.deviceId)) return false;
    const policy = this.checks.policyOf(s.tenantId);
    return policy.policyId === s.policyId && policy.policyVersion === s.policyVersion;
  }

  private clearWhere(stale: (s: RetainedStamp) => boolean): number {
    let n = 0;
    for (const [topic, s] of this.stamps) {
      if (stale(s)) {
        this.drop(topic);
        n++;
      }
    }
    return n;
  }

  private drop(topic: string): void {
    this.stamps.delete(topic);
    this.remove(topic);
  }
}

/** aedes persistence's retained store (untyped in aedes' declarations): an empty payload deletes [MQTT-3.3.1-10]. */
interface RetainedStore {
  storeRetained(packet: object): Promise<void> | void;
}

/** Deletes the retained message of `topic` from an aedes broker. */
export async function removeRetained(broker: object | undefined, topic: string): Promise<void> {
  const store = (broker as { persistence?: RetainedStore } | undefined)?.persistence;
  await store?.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false });
}
