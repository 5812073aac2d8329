/**
 * A whole cluster on loopback for the failure suite: its own embedded
 * PostgreSQL (control store and telemetry sink; stopped and restarted by the
 * outage scenario), nats-server, HAProxy in front and N gateway processes
 * with separate data directories. Every port is a free one.
 *
 * Cluster mode refuses to generate a CA or a root key, so they are
 * provisioned first, as an operator would: `thingiq pki init` makes the CA
 * and the server certificate, the root key and the session-ticket secret are
 * written with mode 0600. One PKI per run; client certificates are issued
 * from it per scenario.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TEST_TENANTS } from '../../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../../helpers/pki.ts';
import { freePort, startTestPostgres, type TestPostgres } from '../../helpers/postgres.ts';
import { BIN, GatewayNode } from './node.ts';
import { waitUntil } from './processes.ts';
import { Haproxy, haproxySetup, NatsServer } from './services.ts';
import { writeClusterSecrets } from './shared-state.ts';

export interface ClusterOptions {
  readonly nodes?: number;
  /** Per-node config overrides (merged over the generated section of the same name). */
  readonly overrides?: Record<string, unknown>;
  /** The gateways expect PROXY v2 from HAProxy (`mqtt.proxyProtocol`); default true. */
  readonly proxyV2?: boolean;
}

export interface Cluster {
  readonly dir: string;
  readonly pg: TestPostgres;
  readonly databaseUrl: string;
  readonly nats: NatsServer;
  readonly haproxy: Haproxy;
  readonly nodes: readonly GatewayNode[];
  readonly pki: TestPki;
  close(): Promise<void>;
}

/** The CA and server certificate through the real CLI; the root key and ticket secret as 0600 files. */
function provision(dir: string): { pkiDir: string; keysDir: string } {
  const pkiDir = join(dir, 'certs');
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const cfg = join(dir, 'provision.yaml');
  writeFileSync(cfg, stringify({ pkiDir, dataDir: join(dir, 'provision-data'), tenants: {} }));
  execFileSync(process.execPath, [BIN, '--config', cfg, 'pki', 'init', '--host', 'localhost', '127.0.0.1'], { cwd: dir, stdio: 'pipe' });
  writeClusterSecrets({ rootKeyFile: join(keysDir, 'root.key'), secretFile: join(keysDir, 'tickets.secret') });
  return { pkiDir, keysDir };
}

function nodeConfig(c: { dir: string; pkiDir: string; keysDir: string; url: string; natsUrl: string; name: string; proxyV2: boolean },
  ports: { mqtt: number; admin: number; adminMtls: number }, overrides: Record<string, unknown>): Record<string, unknown> {
  const dataDir = join(c.dir, c.name);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return {
    pkiDir: c.pkiDir,
    dataDir,
    tenants: TEST_TENANTS,
    log: { level: 'info' },
    mqtt: { host: '127.0.0.1', port: ports.mqtt, ...(c.proxyV2 ? { proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] } : {}) },
    admin: { host: '127.0.0.1', port: ports.admin, mtlsPort: ports.adminMtls },
    controlStore: { type: 'postgres', connectionString: c.url, pollIntervalMs: 600_000 },
    storage: { sinks: { main: { type: 'postgres', connectionString: c.url, durability: 'fsync', poolSize: 4 } }, defaultSink: 'main' },
    // One keyring on this machine's disk, shared by the nodes (one root key seals it).
    keys: { local: { keyringFile: join(c.keysDir, 'keyring.json'), rootKeyFile: join(c.keysDir, 'root.key') } },
    cluster: { nodeId: c.name, nats: { servers: [c.natsUrl] }, sessionTickets: { secretFile: join(c.keysDir, 'tickets.secret') }, heartbeatMs: 300, memberTimeoutMs: 1500 },
    ...overrides,
  };
}

const LOCK = join(tmpdir(), 'thingiq-cluster-suite.lock');

function holderAlive(): boolean {
  try {
    process.kill(Number(readFileSync(join(LOCK, 'pid'), 'utf8')), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One whole cluster at a time on this machine: two of them side by side on
 * two cores starve each other's start-up. Files of the suite in parallel
 * workers queue here; a lock whose holder died is taken over.
 */
async function acquireMachine(): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!existsSync(join(LOCK, 'pid')) && Date.now() - statSync(LOCK).mtimeMs > 10_000) rmSync(LOCK, { recursive: true, force: true });
      else if (existsSync(join(LOCK, 'pid')) && !holderAlive()) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const release = await acquireMachine();
  try {
    const cluster = await startClusterAlone(opts);
    return { ...cluster, close: async () => { try { await cluster.close(); } finally { release(); } } };
  } catch (err) {
    release();
    throw err;
  }
}

async function startClusterAlone(opts: ClusterOptions): Promise<Cluster> {
  const available = await startTestPostgres({ own: true });
  if (!available.ok) throw new Error(available.reason);
  const pg = available.pg;
  const dir = mkdtempSync(join(tmpdir(), 'tiq-cluster-'));
  try {
    return await assemble(dir, pg, opts);
  } catch (err) {
    await pg.close();
    throw err;
  }
}

async function assemble(dir: string, pg: TestPostgres, opts: ClusterOptions): Promise<Cluster> {
  const count = opts.nodes ?? 3;
  const proxyV2 = opts.proxyV2 ?? true;
  const { pkiDir, keysDir } = provision(dir);
  const pki = new TestPki(dir);
  const nats = new NatsServer(await freePort());
  await nats.start();
  const url = pg.url;
  const nodes: GatewayNode[] = [];
  for (let i = 1; i <= count; i++) {
    const name = `node-${i}`;
    const ports = { mqtt: await freePort(), admin: await freePort(), adminMtls: await freePort() };
    const config = nodeConfig({ dir, pkiDir, keysDir, url, natsUrl: nats.url, name, proxyV2 }, ports, opts.overrides ?? {});
    nodes.push(new GatewayNode(name, dir, ports, config, pki.caPem));
  }
  const haproxyPorts = { mqtt: await freePort(), perNode: await Promise.all(nodes.map(() => freePort())) };
  const backends = nodes.map((n) => ({ name: n.name, mqttPort: n.ports.mqtt, adminPort: n.ports.admin }));
  const haproxy = new Haproxy(dir, haproxySetup(backends, haproxyPorts, join(pkiDir, 'ca.crt'), proxyV2), haproxyPorts);
  try {
    await haproxy.start();
    // All at once, as an orchestrator starts them: the nodes race on the schema, and on each tenant's
    // first key version when the first devices arrive (first writer wins).
    await Promise.all(nodes.map((n) => n.start()));
    // HAProxy checked the nodes before they were up and marked them down: wait until its health checks count
    // every node up in every backend, and a whole TLS handshake passes each frontend, as a deployment waits for its LB.
    await waitUntil('haproxy sees every node up', () => haproxy.allUp(), 60_000, 200);
    const probe = pki.app('acme', 'dashboard');
    await waitUntil('haproxy passing every frontend', async () => (await Promise.all([haproxyPorts.mqtt, ...haproxyPorts.perNode].map((p) => handshakes(p, probe)))).every(Boolean), 30_000, 200);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    await haproxy.close();
    await nats.close();
    throw err;
  }
  return {
    dir, pg, databaseUrl: url, nats, haproxy, nodes, pki,
    async close() {
      await Promise.all(nodes.map((n) => n.kill()));
      await haproxy.close();
      await nats.close();
      await pg.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A full TLS handshake with a gateway through `port` (HAProxy closes at once when no server is up). */
function handshakes(port: number, pem: ClientPem): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pem.ca, cert: pem.cert, key: pem.key });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.setTimeout(3000, () => done(false));
  });
}
