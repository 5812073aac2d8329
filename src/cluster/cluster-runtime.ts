/**
 * What the rest of the gateway sees of the cluster: this node's id, how many
 * nodes are live (pushed to listeners when it changes, never polled), and
 * whether this node is the leader that runs the cluster-wide jobs.
 */
export interface ClusterMember {
  readonly nodeId: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** Heartbeat younger than cluster.memberTimeoutMs, by PostgreSQL's clock. */
  readonly live: boolean;
}

export interface ClusterRuntime {
  readonly nodeId: string;
  /** Live nodes counting this one (at least 1). */
  liveNodes(): number;
  /** Called with the new count whenever it changes; returns the unsubscribe. */
  onMembershipChange(listener: (liveNodes: number) => void): () => void;
  isLeader(): boolean;
  /** Called with true when this node becomes the leader and false the moment it stops being one. */
  onLeadership(listener: (leader: boolean) => void): () => void;
  /** The membership table (recently dead rows included, with live false). */
  members(): Promise<readonly ClusterMember[]>;
  /** Steps down, removes this node's row, closes the sessions. */
  close(): Promise<void>;
}

/** A set of listeners whose failures are logged by the caller, never thrown into the emitter. */
export class Listeners<T> {
  readonly #set = new Set<(value: T) => void>();

  add(listener: (value: T) => void): () => void {
    this.#set.add(listener);
    return () => this.#set.delete(listener);
  }

  emit(value: T, onError: (err: unknown) => void): void {
    for (const l of this.#set) {
      try {
        l(value);
      } catch (err) {
        onError(err);
      }
    }
  }
}
