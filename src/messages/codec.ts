/**
 * Telemetry codec: protobuf binary and the proto3 JSON mapping, for the
 * message types under proto/. Decoding is strict where laxness could leak or
 * corrupt: a known field sent with the wrong wire type is refused (that is
 * what a message of another type looks like), JSON with unknown fields is
 * refused. Unknown binary fields are skipped and never re-encoded, so nothing
 * the gateway does not understand is forwarded or stored.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { TiqError } from '../errors.ts';
import type { PayloadEncoding, TelemetryBody } from '../records/message.ts';

export const PROTO_ROOT_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
export const TELEMETRY_PROTO = 'thingiq/telemetry/v1/telemetry.proto';

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export class TelemetryCodec {
  private readonly types = new Map<string, protobuf.Type>();

  constructor(readonly root: protobuf.Root) {}

  static load(extraFiles: readonly string[] = []): TelemetryCodec {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT_DIR + target);
    root.loadSync([TELEMETRY_PROTO, ...extraFiles]);
    root.resolveAll();
    return new TelemetryCodec(root);
  }

  type(messageType: string): protobuf.Type {
    let t = this.types.get(messageType);
    if (!t) {
      t = this.root.lookupType(messageType);
      this.types.set(messageType, t);
    }
    return t;
  }

  hasType(messageType: string): boolean {
    try {
      this.type(messageType);
      return true;
    } catch {
      return false;
    }
  }

  /** Proto3 JSON when the payload starts with `{`, binary otherwise. */
  static sniff(payload: Buffer): PayloadEncoding {
    for (const byte of payload) {
      if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
      return byte === 0x7b ? 'json' : 'protobuf';
    }
    return 'protobuf';
  }

  decode(messageType: string, payload: Buffer, encoding: PayloadEncoding): TelemetryBody {
    const type = this.type(messageType);
    return encoding === 'json' ? this.decodeJson(type, payload) : this.decodeBinary(type, payload);
  }

  encode(messageType: string, body: TelemetryBody, encoding: PayloadEncoding): Buffer {
    const type = this.type(messageType);
    if (encoding === 'json') return Buffer.from(JSON.stringify(type.toObject(type.fromObject(body), JSON_OUT)));
    // A body in BODY_OPTIONS form already holds what the encoder writes (numbers for 64-bit
    // fields, buffers for bytes); only enum names need fromObject. Skipping it saves a copy per message.
    const w = type.encode(this.encodesPlain(type) ? body : type.fromObject(body)).finish();
    return Buffer.from(w.buffer, w.byteOffset, w.byteLength);
  }

  private readonly plainTypes = new Map<protobuf.Type, boolean>();

  /** True when no field of the type, at any depth, is an enum (whose names fromObject turns into numbers). */
  private encodesPlain(type: protobuf.Type): boolean {
    let plain = this.plainTypes.get(type);
    if (plain === undefined) {
      plain = hasNoEnums(type, new Set());
      this.plainTypes.set(type, plain);
    }
    return plain;
  }

  private decodeBinary(type: protobuf.Type, payload: Buffer): TelemetryBody {
    try {
      checkWireTypes(type, payload);
      return type.toObject(type.decode(payload), BODY_OPTIONS) as TelemetryBody;
    } catch (err) {
      if (err instanceof TiqError) throw err;
      throw new TiqError('TIQ_ERR_DECODE', `not a valid ${type.name}`);
    }
  }

  private decodeJson(type: protobuf.Type, payload: Buffer): TelemetryBody {
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString('utf8'));
    } catch {
      throw new TiqError('TIQ_ERR_DECODE', 'payload is not valid JSON');
    }
    const normalised = normaliseJson(type, raw, type.name);
    const problem = type.verify(normalised);
    if (problem) throw new TiqError('TIQ_ERR_DECODE', { reason: problem });
    return type.toObject(type.fromObject(normalised), BODY_OPTIONS) as TelemetryBody;
  }
}

const BODY_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, arrays: false };
const JSON_OUT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false, json: true };

function hasNoEnums(type: protobuf.Type, seen: Set<protobuf.Type>): boolean {
  if (seen.has(type)) return true;
  seen.add(type);
  return type.fieldsArray.every((f) => {
    const resolved = f.resolve().resolvedType;
    if (resolved instanceof protobuf.Enum || f.map) return false;
    return !(resolved instanceof protobuf.Type) || hasNoEnums(resolved, seen);
  });
}

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** Maps snake_case and lowerCamelCase JSON names onto fields, converts 64-bit strings, refuses unknown keys. */
function normaliseJson(type: protobuf.Type, raw: unknown, path: string): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TiqError('TIQ_ERR_DECODE', { reason: `${path}: object expected` });
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const field = type.fields[key] ?? type.fields[snakeToCamel(key)];
    if (!field) throw new TiqError('TIQ_ERR_DECODE', { reason: `${path}: unknown field ${JSON.stringify(key.slice(0, 64))}` });
    if (value === null) continue; // proto3 JSON: null means default
    out[field.name] = normaliseValue(field, value, `${path}.${field.name}`);
  }
  return out;
}

function normaliseValue(field: protobuf.Field, value: unknown, path: string): unknown {
  if (field.repeated) {
    if (!Array.isArray(value)) throw new TiqError('TIQ_ERR_DECODE', { reason: `${path}: array expected` });
    return value.map((v, i) => normaliseScalar(field, v, `${path}[${i}]`));
  }
  return normaliseScalar(field, value, path);
}

function normaliseScalar(field: protobuf.Field, value: unknown, path: string): unknown {
  if (field.resolvedType instanceof protobuf.Type) return normaliseJson(field.resolvedType, value, path);
  if (LONG_TYPES.has(field.type) && typeof value === 'string') {
    if (!/^-?\d{1,19}$/.test(value)) throw new TiqError('TIQ_ERR_DECODE', { reason: `${path}: integer expected` });
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new TiqError('TIQ_ERR_DECODE', { reason: `${path}: integer out of range` });
    return n;
  }
  return value;
}

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function expectedWireTypes(field: protobuf.Field): readonly number[] {
  if (field.resolvedType instanceof protobuf.Type) return [WIRE_LEN];
  if (field.resolvedType instanceof protobuf.Enum) return field.repeated ? [WIRE_VARINT, WIRE_LEN] : [WIRE_VARINT];
  const basic = (protobuf.types.basic as Record<string, number | undefined>)[field.type];
  if (basic === undefined) return [WIRE_LEN]; // string, bytes
  return field.repeated && basic !== WIRE_LEN ? [basic, WIRE_LEN] : [basic];
}

/** Walks the top-level tags once; a known field with the wrong wire type means another message type. */
function checkWireTypes(type: protobuf.Type, payload: Buffer): void {
  const reader = protobuf.Reader.create(payload);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const fieldNo = tag >>> 3;
    const wire = tag & 7;
    if (fieldNo === 0) throw new TiqError('TIQ_ERR_DECODE', { reason: 'field number 0' });
    const field = type.fieldsById[fieldNo];
    if (field && !expectedWireTypes(field).includes(wire)) {
      throw new TiqError('TIQ_ERR_DECODE', { reason: `field ${field.name}: wire type ${wire}, wrong message type for this stream` });
    }
    if (wire === WIRE_I64 || wire === WIRE_I32 || wire === WIRE_VARINT || wire === WIRE_LEN) reader.skipType(wire);
    else throw new TiqError('TIQ_ERR_DECODE', { reason: `unsupported wire type ${wire}` });
  }
}
