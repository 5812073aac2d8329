/**
 * The cluster's engines on loopback: nats-server (stopped and restarted on
 * the same port for the outage scenario) and HAProxy in TCP mode in front of
 * the gateways: the repository's example configuration as the balanced
 * frontend, plus one frontend per node (so a scenario can place a client on
 * a chosen node through the same proxy).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

/** The repository's example HAProxy configuration, run as is (its addresses come from the environment). */
export const EXAMPLE_HAPROXY_CFG = join(import.meta.dirname, '../../../deploy/haproxy/haproxy.cfg');

/** How HAProxy runs: config files (concatenated by HAProxy in order) and the environment they read. */
export interface HaproxySetup {
  readonly files: readonly { readonly name: string; readonly text: string }[];
  readonly env: NodeJS.ProcessEnv;
}

function serverLine(n: BackendNode, caFile: string, proxyV2: boolean): string {
  return `  server ${n.name} 127.0.0.1:${n.mqttPort}${proxyV2 ? ' send-proxy-v2' : ''} check port ${n.adminPort} check-ssl verify required ca-file ${caFile} inter 1s fall 3 rise 1`;
}

/**
 * One frontend per node (a scenario places a client on a chosen node through
 * the same proxy), with fast checks so a killed node leaves within a second.
 */
function perNodeConfig(nodes: readonly BackendNode[], ports: HaproxyPorts, caFile: string, proxyV2: boolean, withGlobal: boolean): string {
  const lines = [
    ...(withGlobal ? ['global', '  maxconn 4096', ''] : []),
    'defaults', '  mode tcp', '  timeout connect 1s', '  timeout check 2s', '  timeout client 60s', '  timeout server 60s', '  retries 2', '  option redispatch', '',
  ];
  nodes.forEach((n, i) => {
    lines.push(`frontend ${n.name}`, `  bind 127.0.0.1:${ports.perNode[i]}`, `  default_backend only-${n.name}`, '');
    lines.push(`backend only-${n.name}`, '  option httpchk GET /readyz', '  http-check expect status 200', serverLine(n, caFile, proxyV2), '');
  });
  return lines.join('\n');
}

/**
 * Three nodes with PROXY v2: the balanced frontend is deploy/haproxy/haproxy.cfg
 * itself, its addresses given through the environment. Otherwise (another
 * node count, or no PROXY v2) a generated one of the same shape: TCP mode,
 * least connections, /readyz checked over verified TLS.
 */
export function haproxySetup(nodes: readonly BackendNode[], ports: HaproxyPorts, caFile: string, proxyV2: boolean): HaproxySetup {
  const perNode = { name: 'per-node.cfg', text: perNodeConfig(nodes, ports, caFile, proxyV2, false) };
  if (nodes.length === 3 && proxyV2 && existsSync(EXAMPLE_HAPROXY_CFG)) {
    const env: NodeJS.ProcessEnv = { TIQ_LB_MQTT_BIND: `127.0.0.1:${ports.mqtt}`, TIQ_CA_FILE: caFile, TIQ_SERVER_NAME: 'localhost', TIQ_LB_CHECK_INTER: '1s', TIQ_LB_MAXCONN: '4096' };
    nodes.forEach((n, i) => {
      env[`TIQ_GW${i + 1}_HOST`] = '127.0.0.1';
      env[`TIQ_GW${i + 1}_MQTT_PORT`] = String(n.mqttPort);
      env[`TIQ_GW${i + 1}_ADMIN_PORT`] = String(n.adminPort);
    });
    return { files: [{ name: 'haproxy.cfg', text: readFileSync(EXAMPLE_HAPROXY_CFG, 'utf8') }, perNode], env };
  }
  const balanced = [
    'frontend mqtt', `  bind 127.0.0.1:${ports.mqtt}`, '  default_backend gateways', '',
    'backend gateways', '  balance leastconn', '  option httpchk GET /readyz', '  http-check expect status 200',
    ...nodes.map((n) => serverLine(n, caFile, proxyV2)), '',
  ].join('\n');
  return { files: [{ name: 'haproxy.cfg', text: `${perNodeConfig(nodes, ports, caFile, proxyV2, true)}\n${balanced}` }], env: {} };
}

export class Haproxy {
  #proc: Managed | undefined;
  constructor(readonly dir: string, readonly setup: HaproxySetup, readonly ports: HaproxyPorts) {}

  async start(): Promise<void> {
    // A stats socket, so a test can wait until HAProxy's own health checks count every node up.
    writeFileSync(join(this.dir, 'stats.cfg'), `global\n  stats socket ${this.statsSocket} mode 600 level user\n`);
    const args: string[] = ['-f', join(this.dir, 'stats.cfg')];
    for (const f of this.setup.files) {
      writeFileSync(join(this.dir, f.name), f.text);
      args.push('-f', join(this.dir, f.name));
    }
    const bin = requireBinary(HAPROXY, 'haproxy');
    // -db: stay in the foreground; -W: master-worker, so SIGTERM stops the whole tree.
    this.#proc = new Managed('haproxy', bin, ['-W', '-db', ...args], { env: this.setup.env });
    await waitUntil('haproxy accepting', () => accepts(this.ports.mqtt), 10_000);
  }

  output(): string {
    return this.#proc?.output() ?? '';
  }

  get statsSocket(): string {
    return join(this.dir, 'haproxy-stats.sock');
  }

  /** True once every server of every backend is UP by HAProxy's health checks (`show stat`). */
  async allUp(): Promise<boolean> {
    const csv = await new Promise<string>((resolve) => {
      let out = '';
      const s = netConnect(this.statsSocket, () => s.end('show stat\n'));
      s.on('data', (d: Buffer) => { out += d.toString(); });
      s.once('close', () => resolve(out));
      s.once('error', () => resolve(''));
    });
    const rows = csv.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(','));
    const servers = rows.filter((r) => r[1] !== 'FRONTEND' && r[1] !== 'BACKEND' && r.length > 17);
    return servers.length > 0 && servers.every((r) => r[17]!.startsWith('UP'));
  }

  get pid(): number {
    return this.#proc?.child.pid ?? 0;
  }

  async close(): Promise<void> {
    await this.#proc?.stop('SIGTERM');
  }
}
