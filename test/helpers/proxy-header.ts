/** PROXY protocol v2 headers as HAProxy's `send-proxy-v2` writes them, for tests that play the load balancer. */
import { connect, createServer, SocketAddress, type AddressInfo, type Socket } from 'node:net';
import { PROXY_V2_SIGNATURE, type ProxyHeader } from '../../src/broker/proxy-protocol.ts';

export function encodeProxyHeader(header: ProxyHeader, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const fixed = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(fixed);
  if (header.command === 'local') {
    fixed[12] = 0x20;
    fixed.writeUInt16BE(tlvs.length, 14);
    return Buffer.concat([fixed, tlvs]);
  }
  const v6 = header.source.family === 'IPv6';
  const size = v6 ? 16 : 4;
  const addr = Buffer.alloc(size * 2 + 4);
  addressBytes(header.source.address, v6).copy(addr, 0);
  addressBytes(header.destination.address, v6).copy(addr, size);
  addr.writeUInt16BE(header.source.port, size * 2);
  addr.writeUInt16BE(header.destination.port, size * 2 + 2);
  fixed[12] = 0x21;
  fixed[13] = v6 ? 0x21 : 0x11;
  fixed.writeUInt16BE(addr.length + tlvs.length, 14);
  return Buffer.concat([fixed, addr, tlvs]);
}

function addressBytes(address: string, v6: boolean): Buffer {
  if (!v6) return Buffer.from(address.split('.').map(Number));
  // Expand "::" and an embedded IPv4 tail into 16 bytes.
  const normal = new SocketAddress({ address, family: 'ipv6' }).address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(normal);
  const text = v4 ? normal.replace(v4[0], `${(Number(v4[1]) * 256 + Number(v4[2])).toString(16)}:${(Number(v4[3]) * 256 + Number(v4[4])).toString(16)}`) : normal;
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/**
 * A minimal load balancer in TCP mode on a free loopback port: each client
 * connection is relayed to `targetPort` behind the header `headerFor` makes.
 * `coalesce`: the header goes out in one write with the client's first
 * bytes (its ClientHello), as a balancer may send them; otherwise the header
 * is written alone, one byte at a time, before the client's bytes.
 */
export async function startRelay(targetPort: number, headerFor: () => Buffer, opts: { coalesce: boolean }): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => { client.destroy(); upstream.destroy(); });
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    const header = headerFor();
    upstream.once('connect', async () => {
      if (!opts.coalesce) {
        for (const byte of header) {
          upstream.write(Buffer.from([byte]));
          await new Promise((r) => setTimeout(r, 2));
        }
        client.pipe(upstream);
      } else {
        client.once('data', (first: Buffer) => {
          upstream.write(Buffer.concat([header, first]));
          client.pipe(upstream);
        });
      }
      upstream.pipe(client);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => { server.close(); for (const s of sockets) s.destroy(); },
  };
}
