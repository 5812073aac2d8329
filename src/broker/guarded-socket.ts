/**
 * The byte stream aedes reads from: the TLS socket behind a FrameScanner.
 *
 * Reading: every chunk is scanned before it is passed on, so a packet that
 * announces more than the limit, or breaks the fixed-header rules, closes the
 * connection before mqtt-packet allocates or buffers anything for it. When
 * aedes stops reading (its publishes wait for storage), up to
 * `readAheadBytes` more are read and held, then the TLS socket is paused.
 * PINGREQs are answered here, not by aedes, so a device whose publishes wait
 * for a stalled sink still gets its PINGRESP; and the keepalive is enforced
 * here, on whole packets received, never counting time this side was not
 * reading (aedes's own timer would blame the device for our backpressure).
 *
 * Writing: aedes is never made to wait for a slow reader (its fan-out would
 * hold every publisher of the topic). Writes go straight to the TLS socket;
 * a peer that lets more than `maxOutboundBytes` pile up there, or does not
 * drain it within `drainTimeoutMs`, is disconnected (TIQ_ERR_SLOW_CONSUMER).
 */
import { Duplex } from 'node:stream';
import { mqtt5Outcome, TiqError, type ErrorCode } from '../errors.ts';
import type { FrameScanner, FrameViolation } from '../limits/frame-scanner.ts';

type WriteCallback = (error?: Error | null) => void;

/** What the guard reads and writes: a TLS socket, or the byte stream of a WebSocket (ws-listener.ts). */
export type GuardedTransport = Duplex & { readonly remoteAddress?: string | undefined };

export interface GuardedSocketLimits {
  /** Bytes read ahead of aedes before the socket is paused. */
  readonly readAheadBytes: number;
  /** Bytes waiting to be sent before the peer is disconnected. */
  readonly maxOutboundBytes: number;
  /** How long the send buffer may stay full before the peer is disconnected. */
  readonly drainTimeoutMs: number;
}

const PINGRESP = Buffer.from([0xd0, 0x00]);
/** How long a socket ending with a DISCONNECT may take to send it. */
const LINGER_MS = 2000;
/** Bytes still unsent worth that wait; a peer with more left unread is not reading. */
const LINGER_BYTES = 64 * 1024;

export class GuardedSocket extends Duplex {
  /** Set once aedes has written (its CONNACK): PINGRESPs may not precede it [MQTT-3.2.0-1]. */
  private answering = false;
  /** First byte of a PINGREQ held back until its second byte shows whether it is one. */
  private heldPing = false;
  private paused = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepaliveMs = 0;
  private readonly onDrain = () => this.clearDrainTimer();
  /** The violation that closed this connection, if one did. */
  closedFor: FrameViolation['code'] | undefined;
  /** A DISCONNECT is on its way out: the socket closes once it is sent, or after LINGER_MS. */
  private ending = false;

  constructor(
    readonly socket: GuardedTransport,
    private readonly scanner: FrameScanner,
    private readonly limits: GuardedSocketLimits,
    private readonly onViolation: (v: FrameViolation) => void,
  ) {
    super({ allowHalfOpen: false, readableHighWaterMark: limits.readAheadBytes });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /**
   * Takes over the keepalive of the CONNECT ([MQTT-3.1.2-24]: 1.5 times it
   * without a packet disconnects); the caller stops aedes from arming its own.
   */
  startKeepalive(seconds: number): void {
    if (seconds <= 0 || this.destroyed) return;
    this.keepaliveMs = seconds * 1500;
    this.keepaliveTimer = setTimeout(() => this.onKeepaliveTimeout(), this.keepaliveMs);
  }

  private onKeepaliveTimeout(): void {
    // Paused by our own backpressure: the silence is ours, not the client's.
    if (this.paused) return void this.keepaliveTimer?.refresh();
    this.fail({ code: 'TIQ_ERR_KEEPALIVE', reason: `no packet within ${this.keepaliveMs} ms (1.5 times the keepalive)` });
  }

  private fail(v: FrameViolation): void {
    if (this.destroyed) return;
    this.closedFor = v.code;
    this.onViolation(v);
    this.tellMqtt5Client(v.code);
    this.destroy(new TiqError(v.code, { reason: v.reason }));
  }

  /**
   * An MQTT 5 client past its CONNACK is told why with a DISCONNECT and its
   * reason code (0x95 packet too large, 0x81 malformed, 0x8D keepalive…;
   * MQTT 5 §3.14.2.1); Reason Code alone, with no properties, is a valid
   * DISCONNECT of remaining length 1 (§3.14.2.2). A 3.1.1 client has no
   * server DISCONNECT, and a peer that does not read is just closed.
   */
  private tellMqtt5Client(code: ErrorCode): void {
    if (this.scanner.protocolLevel !== 5 || !this.answering || this.socket.destroyed) return;
    const outcome = mqtt5Outcome(code);
    if (outcome.packet !== 'disconnect') return;
    this.socket.end(Buffer.from([0xe0, 0x01, outcome.reasonCode]));
    this.ending = true;
  }

  private onData(chunk: Buffer): void {
    if (this.destroyed) return;
    const violation = this.scanner.scan(chunk);
    if (violation) return this.fail(violation);
    if (this.scanner.completed > 0) this.keepaliveTimer?.refresh();
    const out = this.answering ? this.withoutPings(chunk) : chunk;
    if (out.length > 0 && !this.push(out)) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Answers the chunk's PINGREQs and returns the rest of it, for aedes. */
  private withoutPings(chunk: Buffer): Buffer {
    const { pings } = this.scanner;
    const held = this.heldPing;
    this.heldPing = this.scanner.inPingHeader;
    if (pings.length === 0 && !held && !this.heldPing) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    for (const at of pings) {
      // at -1: the PINGREQ began in the last chunk; only if its first byte was held back here is it ours to answer.
      if (at < 0 && !held) continue;
      if (at > from) parts.push(chunk.subarray(from, at));
      from = at + 2;
      this.send(PINGRESP);
    }
    const end = this.heldPing ? chunk.length - 1 : chunk.length;
    if (end > from) parts.push(chunk.subarray(from, end));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  override _read(): void {
    if (this.paused) this.keepaliveTimer?.refresh();
    this.paused = false;
    this.socket.resume();
  }

  /**
   * Writes skip this stream's own Writable buffering: each chunk goes to the
   * TLS socket at once (send), and cork/uncork (mqtt-packet corks for the
   * rest of the tick around every packet it writes) cork the TLS socket
   * itself, so what one tick writes to a client still leaves in one TLS
   * write. One stream layer per packet instead of two: no request object,
   * buffered list or callback bookkeeping per chunk on the hot path. Never
   * false: aedes is never made to wait for a reader (the bounds are send's).
   */
  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    const done = typeof encoding === 'function' ? encoding : cb;
    this.send(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk as Buffer);
    if (done) process.nextTick(done);
    return true;
  }

  override cork(): void {
    this.socket.cork();
  }

  override uncork(): void {
    this.socket.uncork();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: WriteCallback): void {
    this.send(chunk);
    cb();
  }

  /** Hands bytes to TLS at once and bounds what the peer leaves unread. */
  private send(chunk: Buffer): void {
    if (this.socket.destroyed) return;
    this.answering = true;
    const flushed = this.socket.write(chunk);
    if (this.socket.writableLength > this.limits.maxOutboundBytes) {
      return this.fail({ code: 'TIQ_ERR_SLOW_CONSUMER', reason: `more than ${this.limits.maxOutboundBytes} bytes unread` });
    }
    if (flushed || this.drainTimer) return;
    this.drainTimer = setTimeout(() => this.fail({ code: 'TIQ_ERR_SLOW_CONSUMER', reason: `send buffer not drained within ${this.limits.drainTimeoutMs} ms` }), this.limits.drainTimeoutMs);
    this.socket.once('drain', this.onDrain);
  }

  private clearDrainTimer(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  override _final(cb: WriteCallback): void {
    this.socket.end(() => cb());
  }

  override _destroy(err: Error | null, cb: WriteCallback): void {
    this.clearDrainTimer();
    this.socket.off('drain', this.onDrain);
    clearTimeout(this.keepaliveTimer);
    // MQTT 5: a DISCONNECT (ours or aedes's, after an error PUBACK) must reach the client before the close.
    const flushing = this.ending || (this.scanner.protocolLevel === 5 && this.socket.writableLength > 0 && this.socket.writableLength <= LINGER_BYTES);
    if (flushing && !this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    } else {
      this.socket.destroy();
    }
    cb(err);
  }
}
