/**
 * Failure suite: a node dies under QoS 1 load. Devices publish through
 * HAProxy to three gateway processes sharing one PostgreSQL; one node gets
 * `kill -9`, later another SIGTERM. Every message a device saw acknowledged is
 * in PostgreSQL exactly once, and every device is back (through HAProxy, on a
 * live node) within seconds (docs/scaling.md, "Guarantees"). The leader that
 * runs the retention sweeper is killed: another node takes its jobs over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './harness/cluster.ts';
import { QosOneLoad, type LoadDevice } from './harness/load.ts';
import { waitUntil } from './harness/processes.ts';
import { checkExactlyOnce } from './harness/records.ts';

const DEVICES = 12;

describe('cluster: a node fails under QoS 1 load', () => {
  let cluster: Cluster;
  beforeAll(async () => { cluster = await startCluster(); }, 600_000);
  afterAll(async () => { await cluster?.close(); }, 60_000);

  const devices = (prefix: string): LoadDevice[] =>
    Array.from({ length: DEVICES }, (_, i) => ({ tenantId: 'acme', deviceId: `${prefix}-${i}`, pem: cluster.pki.device('acme', `${prefix}-${i}`) }));

  /** Runs load until `acked` messages are acknowledged, then `act`, then load again until `after` more are. */
  async function underLoad(prefix: string, act: () => Promise<void>, after = 600) {
    const load = new QosOneLoad(cluster.haproxy.ports.mqtt, devices(prefix));
    try {
      await load.connected();
      load.start();
      await waitUntil('first acknowledgements', () => load.ackedCount >= 600, 60_000);
      await act();
      const before = load.ackedCount;
      await waitUntil('acknowledgements after the failure', () => load.ackedCount >= before + after, 60_000);
      await waitUntil('every device connected', () => load.allConnected, 30_000);
      await load.stop();
      return load;
    } finally {
      await load.close();
    }
  }

  it('kill -9 of a node: every acknowledged message stored exactly once, devices reconnect through HAProxy within seconds', async () => {
    const victim = cluster.nodes[0]!;
    const load = await underLoad('k9', () => victim.kill());
    expect(victim.running).toBe(false);
    const check = await checkExactlyOnce(cluster.databaseUrl, load.acked());
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    expect(check.rows).toBeGreaterThanOrEqual(load.ackedCount);
    // The devices that were on the killed node lost their connection and came back elsewhere.
    const outages = load.outages();
    expect(outages.length).toBeGreaterThan(0);
    expect(Math.max(...outages)).toBeLessThan(10_000);
    // The node comes back on its data and rejoins the pool.
    await victim.start();
    await waitUntil('haproxy sees the node up again', async () => (await victim.readyz()) === 200, 10_000);
  }, 180_000);

  it('SIGTERM drains: the node exits 0 and loses nothing it acknowledged', async () => {
    const victim = cluster.nodes[1]!;
    let code: number | null = -1;
    const load = await underLoad('term', async () => { code = await victim.terminate(); });
    expect(code).toBe(0);
    expect(victim.output()).toContain('"event":"stopping"');
    const check = await checkExactlyOnce(cluster.databaseUrl, load.acked());
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    expect(Math.max(0, ...load.outages())).toBeLessThan(10_000);
    await victim.start();
  }, 180_000);

  /** Whether the node's current run holds the cluster-wide jobs (its last jobs event says so). */
  const leads = (i: number) => {
    const n = cluster.nodes[i]!;
    if (!n.running) return false;
    const out = n.process.output();
    return out.lastIndexOf('"event":"cluster_jobs_started"') > out.lastIndexOf('"event":"cluster_jobs_stopped"');
  };
  const leaders = () => cluster.nodes.map((_, i) => i).filter(leads);

  it('the leader running the retention sweeper is killed: another node takes the jobs over, and only one', async () => {
    await waitUntil('one leader', () => leaders().length === 1, 20_000);
    const [old] = leaders();
    expect(cluster.nodes[old!]!.events('cluster_jobs_started').at(-1)?.['jobs']).toContain('retention-sweeper');
    await cluster.nodes[old!]!.kill();
    await waitUntil('another node leads', () => leaders().length === 1 && leaders()[0] !== old, 30_000, 100);
    const [next] = leaders();
    expect(cluster.nodes[next!]!.events('cluster_jobs_started').at(-1)?.['jobs']).toContain('retention-sweeper');
    // The old leader comes back as a follower: still one leader.
    await cluster.nodes[old!]!.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(leaders()).toEqual([next]);
  }, 120_000);
});
