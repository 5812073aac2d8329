import { TelemetryCodec } from '../../messages/codec.ts';
import type { PipelineContext } from '../context.ts';
import { CONTINUE, type IngestMessage, type StageResult } from '../../records/message.ts';

/** Protobuf by stream, or the proto3 JSON mapping when the payload is JSON. */
export function decodePayload(msg: IngestMessage, ctx: PipelineContext): StageResult {
  msg.encoding = TelemetryCodec.sniff(msg.payload);
  msg.body = ctx.codec.decode(msg.messageType, msg.payload, msg.encoding);
  return CONTINUE;
}
