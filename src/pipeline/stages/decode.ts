import { TelemetryCodec } from '../../messages/codec.ts';
import type { PipelineContext } from '../context.ts';
import { CONTINUE, type IngestMessage, type StageResult } from '../../records/message.ts';

/**
 * Protobuf by stream, or the proto3 JSON mapping when the payload is JSON.
 * The content digest is taken here, of the device's own bytes: a redelivery
 * re-sends the same PUBLISH packet (MQTT 3.1.1 §4.4), while the policy's output may not
 * (geo-indistinguishability draws fresh noise).
 */
export function decodePayload(msg: IngestMessage, ctx: PipelineContext): StageResult {
  msg.encoding = TelemetryCodec.sniff(msg.payload);
  msg.body = ctx.codec.decode(msg.messageType, msg.payload, msg.encoding);
  msg.contentDigest = ctx.contentDigest(msg.payload);
  return CONTINUE;
}
