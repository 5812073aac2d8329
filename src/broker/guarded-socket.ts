/**
 * The byte stream aedes reads from: the TLS socket behind a FrameScanner.
 * Every chunk is scanned before it is passed on, so a packet that announces
 * more than the limit, or breaks the fixed-header rules, closes the
 * connection before mqtt-packet allocates or buffers anything for it.
 * Backpressure is kept: when aedes stops reading, the TLS socket is paused.
 */
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { TiqError } from '../errors.ts';
import type { FrameScanner, FrameViolation } from '../limits/frame-scanner.ts';

type WriteCallback = (error?: Error | null) => void;

export class GuardedSocket extends Duplex {
  constructor(
    readonly socket: TLSSocket,
    private readonly scanner: FrameScanner,
    private readonly onViolation: (v: FrameViolation) => void,
  ) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  private onData(chunk: Buffer): void {
    if (this.destroyed) return;
    const violation = this.scanner.scan(chunk);
    if (violation) {
      this.onViolation(violation);
      this.destroy(new TiqError(violation.code, { reason: violation.reason }));
      return;
    }
    if (!this.push(chunk)) this.socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: WriteCallback): void {
    if (this.socket.write(chunk)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: WriteCallback): void {
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: WriteCallback): void {
    this.socket.end(() => cb());
  }

  override _destroy(err: Error | null, cb: WriteCallback): void {
    this.socket.destroy();
    cb(err);
  }
}
