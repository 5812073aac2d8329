/** What the gateway knows about a connection and an MQTT client, keyed by object identity. */
import type { Client } from 'aedes';
import type { Identity } from '../identity/identity.ts';
import { OrderedCompletions } from './ordered-acks.ts';

export interface PeerInfo {
  readonly identity: Identity;
  /** Serial of the client certificate, for revocation of live connections. */
  readonly serial: string;
  readonly remoteAddress: string;
}

export interface ClientState {
  readonly peer: PeerInfo;
  readonly order: OrderedCompletions;
  /** Publishes refused on this connection; past the limit the client is disconnected. */
  refusals: number;
}

const peers = new WeakMap<object, PeerInfo>();
const clients = new WeakMap<Client, ClientState>();

export function attachPeer(socket: object, peer: PeerInfo): void {
  peers.set(socket, peer);
}

export function peerOf(socket: object): PeerInfo | undefined {
  return peers.get(socket);
}

export function attachClient(client: Client, peer: PeerInfo): ClientState {
  const state: ClientState = { peer, order: new OrderedCompletions(), refusals: 0 };
  clients.set(client, state);
  return state;
}

export function stateOf(client: Client | null): ClientState | undefined {
  return client ? clients.get(client) : undefined;
}
