/**
 * Wills (MQTT 3.1.1 §3.1.2.5): a device's will is a message like any other.
 *
 * At CONNECT it must be a message the device could publish: its own stream
 * topic, QoS 0 or 1, within the stream's size limit, a payload that decodes
 * and validates. Anything else refuses the CONNECT with TIQ_ERR_WILL_DENIED
 * (CONNACK 5), so a device never believes in a will that would not arrive.
 * Applications and operators publish nothing, so they may not leave a will.
 *
 * When the connection ends without DISCONNECT, the will takes the path of a
 * publish: restriction, rate and quota, then decode, validate, privacy
 * policy, encryption and storage, and only then do the tenant's apps receive
 * the policy-applied message. Its device clock is judged against the
 * gateway's clock when the will was given, since that is when the device
 * wrote it. It is withheld when the session ended because the identity lost
 * its rights (certificate expired or revoked, tenant or app removed,
 * processing restricted) or because the gateway is shutting down: the device
 * did not go away, the gateway did.
 */
import type { Client, PublishPacket } from 'aedes';
import { TiqError, toTiqError, type ErrorCode } from '../errors.ts';
import { describeIdentity, type Identity } from '../identity/identity.ts';
import type { PipelineContext } from '../pipeline/context.ts';
import type { IngestMessage } from '../records/message.ts';
import { INGEST_STAGES, runPipeline } from '../pipeline/pipeline.ts';
import { decodePayload } from '../pipeline/stages/decode.ts';
import { validateMessage } from '../pipeline/stages/validate.ts';
import { isExpired } from './cert-expiry.ts';
import type { ClientState } from './client-state.ts';
import type { HookDeps } from './hook-deps.ts';
import type { TenantEntry } from './tenant-directory.ts';
import { classifyPublish } from './topics.ts';
import { forwardedProperties } from './mqtt5.ts';

type Device = Extract<Identity, { kind: 'device' }>;
type Callback = (e?: Error | null) => void;

/** When each accepted will was given: its clock is validated against that moment. */
const givenAt = new WeakMap<object, number>();

function ingestMessage(id: Device, tenant: TenantEntry, stream: string, will: PublishPacket, nowMs: number): IngestMessage {
  return {
    tenantId: id.tenantId, deviceId: id.deviceId, stream, messageType: tenant.streams.get(stream)!.messageType,
    topic: will.topic, qos: will.qos, receivedAtMs: nowMs, payload: will.payload as Buffer, encoding: 'protobuf',
    body: undefined, deviceTimeMs: 0, sequence: 0, contentDigest: undefined, applied: undefined, sealed: undefined,
  };
}

/** The checks of a will at CONNECT; a payload-free reason when it is refused. */
export function willRefusal(id: Identity, tenant: TenantEntry | undefined, will: PublishPacket, ctx: PipelineContext): Record<string, unknown> | undefined {
  if (id.kind !== 'device' || !tenant) return { reason: `${id.kind} may not publish` };
  if (will.qos === 2) return { reason: 'QoS 2 is not accepted' };
  const target = classifyPublish(id, will.topic, tenant.streamNames);
  if (target.kind === 'unknown-stream') return { reason: 'TIQ_ERR_STREAM_UNKNOWN', stream: target.stream };
  if (target.kind !== 'stream') return { reason: target.kind === 'denied' ? target.reason : 'the control topic takes no will' };
  const limit = tenant.streams.get(target.stream)!.maxPayloadBytes;
  const size = (will.payload as Buffer).length;
  if (size > limit) return { reason: 'TIQ_ERR_PAYLOAD_TOO_LARGE', limit, size };
  const now = ctx.now();
  try {
    runPipeline(ingestMessage(id, tenant, target.stream, will, now), ctx, [decodePayload, validateMessage]);
  } catch (err) {
    const e = toTiqError(err);
    return { reason: e.code, detail: e.detail };
  }
  givenAt.set(will, now);
  return undefined;
}

/**
 * Whether aedes is asking to publish the will of a connection that ended:
 * at once (the packet is still the client's `will`), or after an MQTT 5
 * Will Delay Interval [MQTT-3.1.3-9], when aedes has already cleared
 * `client.will` and only the packet accepted at CONNECT identifies it.
 */
export function isWillOf(client: Client | null, packet: PublishPacket): client is Client {
  return client !== null && client.closed && (packet === (client as unknown as { will?: unknown }).will || givenAt.has(packet));
}

export function createWillDelivery(deps: HookDeps) {
  const { log, stats } = deps;

  /** Why the will is not delivered at all, whatever it says; undefined when it goes on. */
  function withheld(client: Client, state: ClientState | undefined): ErrorCode | undefined {
    if ((client as unknown as { broker?: { closed?: boolean } }).broker?.closed) return 'TIQ_ERR_SHUTTING_DOWN';
    if (!state || state.peer.identity.kind !== 'device') return 'TIQ_ERR_NOT_AUTHORIZED';
    if (state.withdrawn) return state.withdrawn;
    if (isExpired(state.peer, deps.pipeline.now())) return 'TIQ_ERR_CERT_EXPIRED';
    // A delayed will outlives its connection: a revocation since then was never seen by the live session.
    if (deps.isRevoked?.(state.peer.serial)) return 'TIQ_ERR_CERT_REVOKED';
    const id = state.peer.identity;
    if (!deps.directory().get(id.tenantId)?.active) return 'TIQ_ERR_TENANT_UNKNOWN';
    if (deps.restriction(id.tenantId, id.deviceId) !== 'none') return 'TIQ_ERR_RESTRICTED';
    return undefined;
  }

  function refuse(state: ClientState, will: PublishPacket, err: TiqError, callback: Callback): void {
    stats.refused(err.code);
    log.warn({ event: 'will_refused', code: err.code, identity: describeIdentity(state.peer.identity), topic: will.topic.slice(0, 256), detail: err.detail }, 'will refused');
    callback(err);
  }

  return function deliverWill(client: Client, state: ClientState | undefined, will: PublishPacket, callback: Callback): void {
    const code = withheld(client, state);
    if (code) {
      // The reason was logged and counted when the session ended; this says only what became of the will.
      log.info({ event: 'will_withheld', code, identity: state ? describeIdentity(state.peer.identity) : 'unknown' }, 'will not delivered');
      return callback(new TiqError(code));
    }
    const id = state!.peer.identity as Device;
    const tenant = deps.directory().get(id.tenantId)!;
    const target = classifyPublish(id, will.topic, tenant.streamNames);
    if (target.kind !== 'stream') return refuse(state!, will, new TiqError('TIQ_ERR_STREAM_UNKNOWN', { reason: 'stream removed since CONNECT' }), callback);
    const payload = will.payload as Buffer;
    const admission = deps.limits.publishes.admit(id.tenantId, state!.bucket!, payload.length, deps.pipeline.now());
    if ('refused' in admission) return refuse(state!, will, new TiqError(admission.refused, { limit: admission.limit }), callback);
    const limit = tenant.streams.get(target.stream)!.maxPayloadBytes;
    if (payload.length > limit) return refuse(state!, will, new TiqError('TIQ_ERR_PAYLOAD_TOO_LARGE', { limit, size: payload.length }), callback);
    const msg = ingestMessage(id, tenant, target.stream, will, deps.pipeline.now());
    const atGiven = givenAt.get(will) ?? msg.receivedAtMs;
    const ctx = Object.create(deps.pipeline, { now: { value: () => atGiven } }) as PipelineContext;
    const finish = (err: unknown, dropped: boolean): void => {
      if (err) return refuse(state!, will, toTiqError(err), callback);
      stats.accepted(msg.stream, dropped ? 'dropped' : 'stored');
      log.info({ event: dropped ? 'will_dropped' : 'will_delivered', identity: describeIdentity(id), topic: will.topic }, dropped ? 'will dropped by the privacy policy' : 'will stored and delivered');
      if (dropped) return callback(new TiqError('TIQ_ERR_POLICY_DROPPED'));
      will.payload = msg.payload; // subscribers receive the pipeline's output, never the device's bytes
      forwardedProperties(will, tenant.userProperties, msg.applied, msg.receivedAtMs);
      callback(null);
    };
    try {
      const result = runPipeline(msg, ctx, INGEST_STAGES);
      if (result instanceof Promise) result.then((r) => finish(null, r.kind === 'drop'), (e: unknown) => finish(e, false));
      else finish(null, result.kind === 'drop');
    } catch (err) {
      finish(err, false);
    }
  };
}
