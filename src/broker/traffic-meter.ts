/**
 * Bytes read from and written to MQTT connections, by tenant. The sockets
 * count their own bytes; this reads those counts at scrape time (live
 * connections) and keeps the totals of closed ones, so the message path does
 * no extra work. Operator connections and peers without a tenant count
 * under tenant "".
 */
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { peerOf } from './client-state.ts';

interface Totals { in: number; out: number }

export class TrafficMeter {
  private readonly live = new Set<Duplex>();
  private readonly closed = new Map<string, Totals>();

  /** Called once per accepted connection (the guarded stream aedes reads). */
  track(stream: Duplex): void {
    this.live.add(stream);
    stream.once('close', () => {
      this.live.delete(stream);
      const t = this.totalsFor(tenantOf(stream), this.closed);
      const { read, written } = bytesOf(stream);
      t.in += read;
      t.out += written;
    });
  }

  /** [labels, bytes] rows for a counter: direction in/out, by tenant. */
  rows(): [Record<string, string>, number][] {
    const sums = new Map<string, Totals>();
    for (const [tenant, t] of this.closed) sums.set(tenant, { ...t });
    for (const stream of this.live) {
      const t = this.totalsFor(tenantOf(stream), sums);
      const { read, written } = bytesOf(stream);
      t.in += read;
      t.out += written;
    }
    return [...sums].flatMap(([tenant, t]) => [
      [{ tenant, direction: 'in' }, t.in] as [Record<string, string>, number],
      [{ tenant, direction: 'out' }, t.out] as [Record<string, string>, number],
    ]);
  }

  private totalsFor(tenant: string, map: Map<string, Totals>): Totals {
    let t = map.get(tenant);
    if (!t) map.set(tenant, (t = { in: 0, out: 0 }));
    return t;
  }
}

function tenantOf(stream: Duplex): string {
  const id = peerOf(stream)?.identity;
  return id && id.kind !== 'operator' ? id.tenantId : '';
}

/** The TLS socket under the guarded stream, or the stream itself when it is a socket. */
function bytesOf(stream: Duplex): { read: number; written: number } {
  const socket = ((stream as { socket?: Socket }).socket ?? stream) as Partial<Socket>;
  return { read: socket.bytesRead ?? 0, written: socket.bytesWritten ?? 0 };
}
