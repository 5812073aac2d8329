/**
 * Encodes and decodes the portable envelope (proto/thingiq/storage/v1/envelope.proto).
 * The .proto file is the single definition; it is loaded once at import.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { TiqError } from '../errors.ts';
import type { SealedEnvelope } from './record-sealer.ts';

const PROTO_FILE = fileURLToPath(new URL('../../proto/thingiq/storage/v1/envelope.proto', import.meta.url));
const RecordEnvelope = protobuf.loadSync(PROTO_FILE).lookupType('thingiq.storage.v1.RecordEnvelope');

interface EnvelopeObject {
  formatVersion?: number;
  kekRef?: string;
  dekId?: string;
  iv?: Uint8Array;
  ciphertext?: Uint8Array;
  tag?: Uint8Array;
}

export function encodeEnvelope(envelope: SealedEnvelope): Buffer {
  const message = RecordEnvelope.fromObject({
    formatVersion: envelope.formatVersion,
    kekRef: envelope.kekRef,
    dekId: envelope.dekId,
    iv: envelope.iv,
    ciphertext: envelope.ciphertext,
    tag: envelope.tag,
  });
  return Buffer.from(RecordEnvelope.encode(message).finish());
}

/** Throws TIQ_ERR_DECRYPT on bytes that are not an envelope. Lengths are checked by open(). */
export function decodeEnvelope(bytes: Uint8Array): SealedEnvelope {
  let obj: EnvelopeObject;
  try {
    obj = RecordEnvelope.toObject(RecordEnvelope.decode(bytes), { defaults: true }) as EnvelopeObject;
  } catch (err) {
    throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'malformed envelope' }, { cause: err });
  }
  if (!obj.formatVersion || !obj.dekId || !obj.kekRef) throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'envelope lacks required fields' });
  return {
    formatVersion: obj.formatVersion,
    kekRef: obj.kekRef,
    dekId: obj.dekId,
    iv: Buffer.from(obj.iv ?? []),
    ciphertext: Buffer.from(obj.ciphertext ?? []),
    tag: Buffer.from(obj.tag ?? []),
  };
}
