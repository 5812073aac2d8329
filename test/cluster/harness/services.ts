/**
 * The cluster's engines on loopback: nats-server (stopped and restarted on
 * the same port for the outage scenario) and HAProxy in TCP mode in front of
 * the gateways, one balanced frontend plus one frontend per node (so a
 * scenario can place a client on a chosen node through the same proxy).
 */
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { Managed, requireBinary, waitUntil } from './processes.ts';

export const NATS_SERVER = '/usr/sbin/nats-server';
export const HAPROXY = '/usr/sbin/haproxy';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export class NatsServer {
  #proc: Managed | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.#proc?.child.pid ?? 0;
  }

  async start(): Promise<void> {
    this.#proc = new Managed('nats', requireBinary(NATS_SERVER, 'nats-server'), ['-a', '127.0.0.1', '-p', String(this.port)]);
    await waitUntil('nats-server accepting', () => accepts(this.port), 10_000);
  }

  /** kill -9: the bus disappears without a goodbye. */
  async kill(): Promise<void> {
    await this.#proc?.stop('SIGKILL');
  }

  async close(): Promise<void> {
    await this.#proc?.stop('SIGTERM');
  }
}

export interface BackendNode {
  readonly name: string;
  readonly mqttPort: number;
  readonly adminPort: number;
}

export interface HaproxyPorts {
  /** The balanced MQTT frontend every device uses. */
  readonly mqtt: number;
  /** One frontend per node, same order as the nodes. */
  readonly perNode: readonly number[];
}

/**
 * The same shape as deploy/haproxy/haproxy.cfg: TCP mode, health checked on
 * the admin listener's /readyz over verified TLS, PROXY v2 towards the nodes
 * when they expect it. Fast checks so a killed node leaves the pool within a
 * second, and `redispatch` so a connect that hits it goes to another.
 */
export function haproxyConfig(nodes: readonly BackendNode[], ports: HaproxyPorts, caFile: string, proxyV2: boolean): string {
  const server = (n: BackendNode) =>
    `  server ${n.name} 127.0.0.1:${n.mqttPort}${proxyV2 ? ' send-proxy-v2' : ''} check port ${n.adminPort} check-ssl verify required ca-file ${caFile} inter 500ms fall 2 rise 1`;
  const lines = [
    'global', '  maxconn 4096', '',
    'defaults', '  mode tcp', '  timeout connect 1s', '  timeout check 2s', '  timeout client 60s', '  timeout server 60s', '  retries 2', '  option redispatch', '',
    'frontend mqtt', `  bind 127.0.0.1:${ports.mqtt}`, '  default_backend gateways', '',
    'backend gateways', '  balance leastconn', '  option httpchk GET /readyz', '  http-check expect status 200',
    ...nodes.map(server), '',
  ];
  nodes.forEach((n, i) => {
    lines.push(`frontend ${n.name}`, `  bind 127.0.0.1:${ports.perNode[i]}`, `  default_backend only-${n.name}`, '');
    lines.push(`backend only-${n.name}`, '  option httpchk GET /readyz', '  http-check expect status 200', server(n), '');
  });
  return lines.join('\n');
}

export class Haproxy {
  #proc: Managed | undefined;
  constructor(readonly dir: string, readonly config: string, readonly ports: HaproxyPorts) {}

  async start(): Promise<void> {
    const file = join(this.dir, 'haproxy.cfg');
    writeFileSync(file, this.config);
    const bin = requireBinary(HAPROXY, 'haproxy');
    // -db: stay in the foreground; -W: master-worker, so SIGTERM stops the whole tree.
    this.#proc = new Managed('haproxy', bin, ['-W', '-db', '-f', file]);
    await waitUntil('haproxy accepting', () => accepts(this.ports.mqtt), 10_000);
  }

  output(): string {
    return this.#proc?.output() ?? '';
  }

  get pid(): number {
    return this.#proc?.child.pid ?? 0;
  }

  async close(): Promise<void> {
    await this.#proc?.stop('SIGTERM');
  }
}
