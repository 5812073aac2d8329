/** Free TCP ports for servers whose port must be known before they start. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A port for a server whose number must be known before it starts (a gateway
 * node's config, HAProxy's backends, PostgreSQL, NATS). Chosen at random below
 * the kernel's ephemeral range, so no connection's source port and no other
 * `listen(0)` can take it between this check and the server's own listen (a
 * port handed out by `listen(0)` could be, and a cluster node then failed with
 * TIQ_ERR_LISTEN). Falls back to `listen(0)` where that range is too low.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  if (below >= 12_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
      if (await bindable(port)) return port;
    }
  }
  return anyPort();
}

function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function anyPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
