/** The broker's connected clients, for the few actions that span them (revocation, restriction, drain). */
import type { Aedes, Client } from 'aedes';
import type { ErrorCode } from '../errors.ts';
import { stateOf, type ClientState } from './client-state.ts';

/** aedes keeps its clients by session id on an undocumented but stable field. */
export function liveClients(broker: Aedes | undefined): Client[] {
  return broker ? Object.values((broker as unknown as { clients: Record<string, Client> }).clients) : [];
}

/**
 * Closes every client whose state matches, for a reason that withdraws the
 * identity's right to its session (revocation, restriction, removal): its
 * will is not delivered. Returns the session ids closed.
 */
export function closeClientsWhere(broker: Aedes | undefined, matches: (state: ClientState) => boolean, reason: ErrorCode = 'TIQ_ERR_NOT_AUTHORIZED'): string[] {
  const closed: string[] = [];
  for (const client of liveClients(broker)) {
    const state = stateOf(client);
    if (state && matches(state)) {
      state.withdrawn ??= reason;
      closed.push(client.id);
      client.close();
    }
  }
  return closed;
}

/** Publishes whose PUBACK is still held (pipeline not finished). */
export function pendingPublishes(broker: Aedes | undefined): number {
  let n = 0;
  for (const client of liveClients(broker)) n += stateOf(client)?.order.pending ?? 0;
  return n;
}
