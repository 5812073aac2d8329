/** What the gateway knows about a connection and an MQTT client, keyed by object identity. */
import type { Client } from 'aedes';
import type { ErrorCode } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import type { TokenBucket } from '../limits/token-bucket.ts';
import { OrderedCompletions } from './ordered-acks.ts';
import { PublishGate } from './publish-gate.ts';

export interface PeerInfo {
  readonly identity: Identity;
  /** Serial of the client certificate, for revocation of live connections. */
  readonly serial: string;
  readonly remoteAddress: string;
  /** The certificate's notAfter (or the bearer token's exp), ms since the epoch: the session ends when it passes. */
  readonly notAfterMs: number;
  /** How the identity was proven; absent: a client certificate. */
  readonly credential?: 'certificate' | 'token';
}

export interface ClientState {
  readonly peer: PeerInfo;
  readonly order: OrderedCompletions;
  /** Pipelines of this client running at once, and those waiting for a slot. */
  readonly gate: PublishGate;
  /** The device's publish-rate bucket (devices only). */
  readonly bucket: TokenBucket | undefined;
  /** Publishes refused on this connection; past the limit the client is disconnected. */
  refusals: number;
  /** A refusal is closing this connection. */
  disconnecting: boolean;
  /**
   * Why the identity lost its right to this session (certificate expired or
   * revoked, tenant or app removed, processing refused), if it did: its will
   * is then not delivered.
   */
  withdrawn: ErrorCode | undefined;
  /** The refusal that closed the connection, if one did (lifecycle events give it as the reason). */
  closedWith?: ErrorCode;
  /** A new session of the same identity and client id took this one over [MQTT-3.1.4-2]. */
  takenOver?: boolean;
}

export interface ClientLimits {
  readonly maxPendingPublishes: number;
  readonly maxQueuedPublishes: number;
  readonly bucket?: TokenBucket | undefined;
}

const peers = new WeakMap<object, PeerInfo>();
const clients = new WeakMap<Client, ClientState>();

export function attachPeer(socket: object, peer: PeerInfo): void {
  peers.set(socket, peer);
}

export function peerOf(socket: object): PeerInfo | undefined {
  return peers.get(socket);
}

const UNBOUNDED: ClientLimits = { maxPendingPublishes: Number.MAX_SAFE_INTEGER, maxQueuedPublishes: 0 };

export function attachClient(client: Client, peer: PeerInfo, limits: ClientLimits = UNBOUNDED): ClientState {
  const state: ClientState = {
    peer, order: new OrderedCompletions(), refusals: 0, disconnecting: false, withdrawn: undefined,
    gate: new PublishGate(limits.maxPendingPublishes, limits.maxQueuedPublishes), bucket: limits.bucket,
  };
  clients.set(client, state);
  return state;
}

export function stateOf(client: Client | null): ClientState | undefined {
  return client ? clients.get(client) : undefined;
}
