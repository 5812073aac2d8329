/**
 * Reason-coded refusals for MQTT 5 clients.
 *
 * aedes 2 turns any authorizePublish error of a v5 client into PUBACK 0x87
 * (lib/handlers/publish.js) and offers no way to choose another reason code.
 * So for a v5 client the gateway answers a refused QoS 1 PUBLISH itself, with
 * the catalogue's reason code (errors.ts, MQTT5_OUTCOMES), then hands aedes
 * the error with the packet's QoS lowered to 0: aedes drops a refused QoS 0
 * message without acknowledging it, so each packet id gets exactly one PUBACK.
 * The callback runs in PUBACK order (ordered-acks.ts), and aedes writes the
 * PUBACKs it releases synchronously, so the order of [MQTT-4.6.0-2] holds.
 * Refusals whose outcome is a DISCONNECT send it with the reason code
 * (MQTT 5 §3.14.2.1) and nothing for the message: the device resends it.
 */
import type { Client, PublishPacket } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { mqtt5Outcome, toTiqError, type ErrorCode } from '../errors.ts';
import { stateOf } from './client-state.ts';

type Callback = (e?: Error | null) => void;

/** Clients already sent a DISCONNECT: later refusals on the closing connection send nothing more. */
const disconnected = new WeakSet<Client>();

export function isMqtt5(client: Client | null): client is Client {
  return client?.version === 5;
}

/** [MQTT-3.1.2-29]: a client that asked for no problem information gets no Reason String on PUBACK. */
function wantsReasonString(client: Client): boolean {
  return (client as unknown as { _requestProblemInformation?: boolean })._requestProblemInformation !== false;
}

/** aedes handles a PUBLISH that follows the CONNACK while it still finishes the CONNECT (`connecting`). */
function writable(client: Client): boolean {
  return (client.connected || client.connecting) && !client.closed && !client.conn.destroyed;
}

/** Writes one PUBACK carrying a reason code, the code's name as Reason String. */
export function writeReasonPuback(client: Client, messageId: number, reasonCode: number, code: ErrorCode): void {
  if (!writable(client)) return;
  const properties = wantsReasonString(client) ? { reasonString: code } : undefined;
  client.conn.write(mqttPacket.generate({ cmd: 'puback', messageId, reasonCode, ...(properties ? { properties } : {}) }, { protocolVersion: 5 }));
}

/** Sends DISCONNECT with a reason code (once per connection) and closes. */
export function disconnectWithReason(client: Client, reasonCode: number, code: ErrorCode): void {
  if (disconnected.has(client)) return;
  disconnected.add(client);
  if (!writable(client)) return;
  const properties = { reasonString: code };
  if (client.connected) return client.disconnect({ reasonCode, properties }, () => undefined);
  // aedes's disconnect() sends nothing before `connected`: the DISCONNECT is written here.
  client.conn.write(mqttPacket.generate({ cmd: 'disconnect', reasonCode, properties }, { protocolVersion: 5 }));
  client.close();
}

/**
 * Wraps aedes's authorizePublish callback for a v5 client: success passes
 * through; an error becomes the catalogue's PUBACK reason code, or, when the
 * refusal closes the connection (its outcome, or `state.disconnecting` set
 * by too many refusals), a DISCONNECT with the reason code and no PUBACK.
 */
export function mqtt5PublishCallback(client: Client, packet: PublishPacket, aedesCallback: Callback): Callback {
  return (e) => {
    if (!e) return aedesCallback(null);
    const err = toTiqError(e);
    const outcome = mqtt5Outcome(err.code);
    const qos = packet.qos;
    // aedes acknowledges nothing for a refused QoS 0 message: the gateway's PUBACK (or none) is the only one.
    packet.qos = 0;
    const closing = stateOf(client)?.disconnecting === true || disconnected.has(client);
    if (outcome.packet === 'puback' && !closing) {
      if (qos === 1 && packet.messageId !== undefined) writeReasonPuback(client, packet.messageId, outcome.reasonCode, err.code);
    } else if (outcome.packet === 'puback' || outcome.packet === 'disconnect') {
      disconnectWithReason(client, outcome.reasonCode, err.code);
    }
    aedesCallback(err);
  };
}
