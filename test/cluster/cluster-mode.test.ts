/**
 * Cluster mode in the gateway: the refusals (all at once, nothing created),
 * and two in-process gateways on one real PostgreSQL: both in the membership
 * table, quotas divided between them, one leader running the cluster-wide
 * jobs, handed over when it leaves.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { stringify } from 'yaml';
import { checkConfigFile } from '../../src/cli/config-commands.ts';
import { clusterProblems } from '../../src/cluster/cluster-checks.ts';
import { parseConfig } from '../../src/config/load.ts';
import { isTiqError } from '../../src/errors.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/log.ts';
import { LogCapture, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { provisionSharedState, type SharedClusterState } from './harness/shared-state.ts';

function getJson(port: number, pem: ClientPem, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

const NATS = { servers: ['nats://127.0.0.1:4222'] };

function secret(path: string, content: string | Buffer): string {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** The problems' config paths (the text after them is for people). */
const pathsOf = (problems: readonly string[]) => problems.map((p) => p.slice(0, p.indexOf(':'))).sort();

describe('cluster mode refusals', () => {
  test('everything a node would make up or keep to itself is refused at once, with TIQ_ERR_CONFIG, and nothing is created', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tiq-cluster-'));
    const raw = { dataDir: 'data', pkiDir: 'certs', tenants: { acme: {} }, cluster: { nats: NATS, sessionTickets: { secretFile: 'tickets.secret' } } };
    const config = parseConfig(raw, 'test');
    const err = await Gateway.start({ config, baseDir: base, logger: createLogger('silent'), mqttPort: 0 }).then(() => undefined, (e: unknown) => e);
    expect(isTiqError(err) && err.code).toBe('TIQ_ERR_CONFIG');
    const problems = (isTiqError(err) ? err.detail?.['problems'] : []) as string[];
    expect(pathsOf(problems)).toEqual(['cluster.sessionTickets.secretFile', 'controlStore', 'keys.local', 'pkiDir', 'storage']);
    // No CA, no root key, not even the data directory.
    expect(existsSync(join(base, 'certs', 'ca.crt'))).toBe(false);
    expect(existsSync(join(base, 'data'))).toBe(false);
    // `thingiq config check` reports the same.
    writeFileSync(join(base, 'gateway.yaml'), stringify(raw));
    const checked = await checkConfigFile(join(base, 'gateway.yaml'), base);
    expect(checked.code).toBe('TIQ_ERR_CONFIG');
    expect(pathsOf(checked.problems)).toEqual(pathsOf(problems));
  });

  test('SQLite sinks are refused wherever they are used; a short or readable ticket secret is refused', () => {
    const base = mkdtempSync(join(tmpdir(), 'tiq-cluster-'));
    const pg = { type: 'postgres', connectionString: 'postgresql://x@127.0.0.1/x' };
    const short = secret(join(base, 'short'), randomBytes(16));
    const config = parseConfig({
      controlStore: pg, tenants: { acme: {}, globex: {} },
      storage: { sinks: { main: pg, eu: { type: 'sqlite', path: 'eu.db' }, old: { type: 'sqlite' } }, defaultSink: 'main', tenantSinks: { globex: 'eu' } },
      cluster: { nats: NATS, sessionTickets: { secretFile: short } },
    }, 'test');
    const problems = clusterProblems(config, base, {});
    expect(pathsOf(problems.filter((p) => p.startsWith('storage')))).toEqual(['storage.sinks.eu', 'storage.sinks.old']);
    expect(problems.filter((p) => p.startsWith('cluster.sessionTickets.secretFile'))).toHaveLength(1);
    const readable = join(base, 'readable');
    writeFileSync(readable, randomBytes(32));
    chmodSync(readable, 0o640);
    const loose = clusterProblems(parseConfig({ ...config, cluster: { ...config.cluster, sessionTickets: { secretFile: readable } } }, 'test'), base, {});
    expect(loose.filter((p) => p.startsWith('cluster.sessionTickets.secretFile'))).toHaveLength(1);
    chmodSync(readable, 0o600);
    const fine = clusterProblems(parseConfig({ ...config, cluster: { ...config.cluster, sessionTickets: { secretFile: readable } } }, 'test'), base, {});
    expect(fine.filter((p) => p.startsWith('cluster.sessionTickets.secretFile'))).toEqual([]);
    // The root key from the environment is enough.
    expect(fine.some((p) => p.startsWith('keys.local'))).toBe(true);
    expect(clusterProblems(config, base, { THINGIQ_ROOT_KEY: randomBytes(32).toString('base64') }).some((p) => p.startsWith('keys.local'))).toBe(false);
  });

  test('without the cluster section nothing is refused', () => {
    expect(clusterProblems(parseConfig({ tenants: {} }, 'test'), mkdtempSync(join(tmpdir(), 'tiq-cluster-')))).toEqual([]);
  });
});

const available = await startTestPostgres();

if (!available.ok) {
  describe.skip(`cluster mode on PostgreSQL (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;

  describe('two gateway nodes on one PostgreSQL', () => {
    const pki = new TestPki();
    const nodes: { gateway: Gateway; logs: LogCapture }[] = [];

    async function startNode(name: string, certs: string): Promise<{ gateway: Gateway; logs: LogCapture }> {
      const logs = new LogCapture();
      const node = state.node(name);
      const config = parseConfig({ ...shared, ...node, pkiDir: certs, cluster: { ...node.cluster, ...shared.cluster } }, name);
      const gateway = await Gateway.start({ config, baseDir: pki.baseDir, logger: createLogger('debug', logs), mqttPort: 0 });
      return { gateway, logs };
    }

    let state: SharedClusterState;
    let shared: Record<string, unknown> & { cluster: Record<string, unknown> };

    beforeAll(async () => {
      state = await provisionSharedState(server, pki.baseDir);
      shared = {
        tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, quotas: { messagesPerSecond: 1000, maxConnections: 10 } } },
        admin: { port: 0, mtlsPort: 0 },
        cluster: { heartbeatMs: 200, memberTimeoutMs: 3000 },
      };
      // Node b has the CA certificate and its own server certificate, not the CA key: it issues nothing.
      const bCerts = join(pki.baseDir, 'certs-b');
      mkdirSync(bCerts, { mode: 0o700 });
      for (const f of ['ca.crt', 'server.crt', 'server.key']) copyFileSync(join(pki.dir, f), join(bCerts, f));
      nodes.push(await startNode('node-a', pki.dir), await startNode('node-b', bCerts));
    }, 120_000);
    afterAll(async () => {
      for (const n of nodes) await n.gateway.close();
      await server.close();
    });

    test('both are in the membership table, see two live nodes, and enforce half of each tenant quota', async () => {
      const [a, b] = nodes.map((n) => n.gateway);
      await vi.waitFor(() => expect([a!.cluster?.liveNodes(), b!.cluster?.liveNodes()]).toEqual([2, 2]), { timeout: 3000, interval: 20 });
      const members = await a!.cluster!.members();
      expect(members.map((m) => m.nodeId).sort()).toEqual(['node-a', 'node-b']);
      expect(members.every((m) => m.live && m.pid === process.pid)).toBe(true);
      expect(a!.limits!.quotasOf('acme')).toMatchObject({ messagesPerSecond: 500, maxConnections: 5 });
      expect(b!.limits!.quotasOf('acme')).toMatchObject({ messagesPerSecond: 500, maxConnections: 5 });
      const metrics = await a!.stats.registry.metrics();
      expect(metrics).toMatch(/^thingiq_cluster_live_nodes 2$/m);
      // Node b, without the CA key, serves the admin API but issues nothing (no local operator certificate).
      expect(nodes[1]!.logs.events('local_operator_unavailable')).toHaveLength(1);
      expect(nodes[0]!.logs.events('local_operator_unavailable')).toHaveLength(0);
      // Operators list the members through the admin API of any node.
      const listed = await getJson(b!.adminPorts.mtlsPort, pki.operator('olga'), '/v1/cluster/members');
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ cluster: true, nodeId: 'node-b', liveNodes: 2 });
      expect((listed.body['members'] as { nodeId: string }[]).map((m) => m.nodeId).sort()).toEqual(['node-a', 'node-b']);
    });

    test('exactly one leader runs the cluster-wide jobs; when it leaves, the other takes them over within a few heartbeats', async () => {
      const leaders = () => nodes.filter((n) => n.gateway.cluster?.isLeader());
      await vi.waitFor(() => expect(leaders()).toHaveLength(1), { timeout: 3000, interval: 20 });
      const [leader] = leaders();
      const follower = nodes.find((n) => n !== leader)!;
      expect(leader!.logs.events('cluster_jobs_started').at(-1)?.['jobs']).toContain('retention-sweeper');
      expect(follower.logs.events('cluster_jobs_started')).toHaveLength(0);
      expect(await leader!.gateway.stats.registry.metrics()).toMatch(/^thingiq_cluster_leader 1$/m);
      expect(await follower.gateway.stats.registry.metrics()).toMatch(/^thingiq_cluster_leader 0$/m);
      await leader!.gateway.close();
      nodes.splice(nodes.indexOf(leader!), 1);
      await vi.waitFor(() => expect(follower.gateway.cluster?.isLeader()).toBe(true), { timeout: 3000, interval: 20 });
      expect(follower.logs.events('cluster_jobs_started')).toHaveLength(1);
      // The clean leave removed its row: one node, whole quotas again.
      await vi.waitFor(() => expect(follower.gateway.cluster?.liveNodes()).toBe(1), { timeout: 3000, interval: 20 });
      expect(follower.gateway.limits!.quotasOf('acme')).toMatchObject({ messagesPerSecond: 1000, maxConnections: 10 });
    });
  });
}
