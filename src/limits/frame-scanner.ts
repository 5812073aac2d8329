/**
 * Reads MQTT 3.1.1 and 5 fixed headers off the raw byte stream, incrementally,
 * without buffering or parsing packet bodies: mqtt-packet has no size limit
 * and buffers whatever a remaining length promises (up to 256 MiB), so the
 * size and the framing rules are checked here, before the parser sees a byte.
 * The one body byte read is the CONNECT's protocol level: MQTT 5 counts the
 * Maximum Packet Size over the whole packet (§3.2.2.3.6) and allows a
 * DISCONNECT with a body (§3.14.2).
 */
import type { ErrorCode } from '../errors.ts';

export interface FrameViolation {
  readonly code: ErrorCode;
  readonly reason: string;
}

const CONNECT = 1;
const PUBLISH = 3;
const PINGREQ = 12;
const DISCONNECT = 14;
const AUTH = 15;
/** Offset of the protocol level in a CONNECT body: the protocol name "MQTT" with its 2-byte length [MQTT-3.1.2-1]. */
const LEVEL_OFFSET = 6;
/** The largest fixed header: type and flags, and a 4-byte remaining length [MQTT-2.2.3]. */
const MAX_FIXED_HEADER = 5;
/** Packet types a client may send [MQTT-2.2.1]; CONNACK, SUBACK, UNSUBACK, PINGRESP are server-only. */
const CLIENT_TYPES = new Set([1, 3, 4, 5, 6, 7, 8, 10, 12, 14]);
/** Types whose fixed-header flags are 0b0010; all others but PUBLISH are 0 [MQTT-2.2.2-1], [MQTT-2.2.2-2]. */
const FLAGS_0010 = new Set([6, 8, 10]);

type State = 'header' | 'length' | 'body';

export class FrameScanner {
  private state: State = 'header';
  private lengthBytes = 0;
  private multiplier = 1;
  private remaining = 0;
  private packets = 0;
  private type = 0;
  private headerAt = 0;
  private bodyRead = 0;
  /** The CONNECT's protocol level (4 for 3.1.1, 5 for MQTT 5); 0 until it has been read. */
  protocolLevel = 0;
  /** Packets whose last byte was in the last scanned chunk (keepalive counts whole packets [MQTT-3.1.2-24]). */
  completed = 0;
  /**
   * Offsets, in the last scanned chunk, of the first byte of each PINGREQ that
   * ended in it (always 2 bytes, C0 00); -1 when that byte ended the chunk before.
   */
  readonly pings: number[] = [];

  constructor(private readonly maxPacketBytes: number) {}

  /** The last chunk ended just after a PINGREQ's first byte: its second byte comes next. */
  get inPingHeader(): boolean {
    return this.state === 'length' && this.type === PINGREQ;
  }

  /** Scans one chunk; returns the first violation, after which the connection must be closed. */
  scan(chunk: Uint8Array): FrameViolation | undefined {
    let i = 0;
    this.completed = 0;
    this.pings.length = 0;
    this.headerAt = -1;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skip = Math.min(this.remaining, chunk.length - i);
        if (this.type === CONNECT && this.protocolLevel === 0 && LEVEL_OFFSET - this.bodyRead < skip) {
          this.protocolLevel = chunk[i + LEVEL_OFFSET - this.bodyRead]!;
        }
        this.bodyRead += skip;
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.endPacket();
        continue;
      }
      if (this.state === 'header') this.headerAt = i;
      const byte = chunk[i++]!;
      const violation = this.state === 'header' ? this.header(byte) : this.length(byte);
      if (violation) return violation;
    }
    return undefined;
  }

  private endPacket(): void {
    this.state = 'header';
    this.completed++;
    if (this.type === PINGREQ) this.pings.push(this.headerAt);
  }

  private header(byte: number): FrameViolation | undefined {
    const type = byte >> 4;
    const flags = byte & 0x0f;
    // MQTT 5 AUTH: the gateway offers no enhanced authentication, so it is a Protocol Error (§4.12).
    if (type === AUTH && this.protocolLevel === 5) return { code: 'TIQ_ERR_PROTOCOL_VIOLATION', reason: 'AUTH without an authentication method' };
    if (!CLIENT_TYPES.has(type)) return { code: 'TIQ_ERR_MALFORMED_PACKET', reason: `packet type ${type} is not sent by clients` };
    // [MQTT-3.1.0-1] CONNECT first; [MQTT-3.1.0-2] and only once.
    if (this.packets === 0 && type !== CONNECT) return { code: 'TIQ_ERR_PROTOCOL_VIOLATION', reason: 'first packet is not CONNECT' };
    if (this.packets > 0 && type === CONNECT) return { code: 'TIQ_ERR_PROTOCOL_VIOLATION', reason: 'second CONNECT' };
    if (type === PUBLISH) {
      if ((flags & 0x06) === 0x06) return { code: 'TIQ_ERR_MALFORMED_PACKET', reason: 'PUBLISH with QoS 3' }; // [MQTT-3.3.1-4]
    } else if (flags !== (FLAGS_0010.has(type) ? 0x02 : 0)) {
      return { code: 'TIQ_ERR_MALFORMED_PACKET', reason: `reserved flags of packet type ${type}` };
    }
    this.packets++;
    this.type = type;
    this.state = 'length';
    this.lengthBytes = 0;
    this.multiplier = 1;
    this.remaining = 0;
    this.bodyRead = 0;
    return undefined;
  }

  /** The remaining length: a variable byte integer of at most four bytes [MQTT-2.2.3]. */
  private length(byte: number): FrameViolation | undefined {
    this.remaining += (byte & 0x7f) * this.multiplier;
    this.multiplier *= 128;
    this.lengthBytes++;
    if (byte & 0x80) {
      if (this.lengthBytes === 4) return { code: 'TIQ_ERR_MALFORMED_PACKET', reason: 'remaining length longer than 4 bytes' };
      return undefined;
    }
    if (this.tooLarge()) return { code: 'TIQ_ERR_PACKET_TOO_LARGE', reason: `packet announces ${this.remaining} bytes` };
    // PINGREQ and (before MQTT 5) DISCONNECT have no variable header or payload [MQTT-3.12.1], [MQTT-3.14.1].
    if (this.remaining > 0 && (this.type === PINGREQ || (this.type === DISCONNECT && this.protocolLevel !== 5))) {
      return { code: 'TIQ_ERR_MALFORMED_PACKET', reason: `packet type ${this.type} with a body` };
    }
    if (this.remaining === 0) this.endPacket();
    else this.state = 'body';
    return undefined;
  }

  /**
   * MQTT 3.1.1 (and a CONNECT, whose level is not read yet): the remaining
   * length against the limit. MQTT 5: the whole packet against the limit plus
   * the largest fixed header, the Maximum Packet Size CONNACK announces.
   */
  private tooLarge(): boolean {
    if (this.protocolLevel !== 5) return this.remaining > this.maxPacketBytes;
    return 1 + this.lengthBytes + this.remaining > this.maxPacketBytes + MAX_FIXED_HEADER;
  }
}
