import pg from 'pg';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { LeaderElection } from '../../src/cluster/leader-election.ts';
import { Membership } from '../../src/cluster/membership.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

const available = await startTestPostgres();

// Generous for a loaded machine: a check slower than one heartbeat counts as a lost session.
const HEARTBEAT = 300;

function electors(url: string, n: number): LeaderElection[] {
  return Array.from({ length: n }, (_, i) => new LeaderElection({ connectionString: url, nodeId: `n${i}`, heartbeatMs: HEARTBEAT, memberTimeoutMs: 3000 }));
}

const leaders = (all: readonly LeaderElection[]) => all.filter((e) => e.isLeader);

async function admin(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

if (!available.ok) {
  describe.skip(`cluster leader election and membership (${available.reason})`, () => { test('skipped', () => {}); });
} else {
  const server = available.pg;
  afterAll(() => server.close());

  test('three electors on one PostgreSQL: exactly one leader, and it stays the only one', async () => {
    const url = await server.newDatabase();
    const all = electors(url, 3);
    try {
      await Promise.all(all.map((e) => e.start()));
      await vi.waitFor(() => expect(leaders(all)).toHaveLength(1), { timeout: HEARTBEAT * 10, interval: 20 });
      // Over several heartbeats, never two at once.
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, HEARTBEAT / 2));
        expect(leaders(all).length).toBeLessThanOrEqual(1);
      }
      await vi.waitFor(() => expect(leaders(all)).toHaveLength(1), { timeout: HEARTBEAT * 10, interval: 20 });
    } finally {
      await Promise.all(all.map((e) => e.close()));
    }
  });

  test('the leader\'s backend terminated: it steps down at once and another node takes over within a few heartbeats', async () => {
    const url = await server.newDatabase();
    const all = electors(url, 3);
    const c = await admin(url);
    try {
      await Promise.all(all.map((e) => e.start()));
      await vi.waitFor(() => expect(leaders(all)).toHaveLength(1), { timeout: HEARTBEAT * 10, interval: 20 });
      const old = leaders(all)[0]!;
      const steppedDown = new Promise<boolean>((r) => old.onLeadership((l) => { if (!l) r(l); }));
      const killed = await c.query(`SELECT pg_terminate_backend(l.pid) AS ok FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      expect(killed.rowCount).toBe(1);
      expect(await steppedDown).toBe(false);
      await vi.waitFor(() => expect(leaders(all)).toHaveLength(1), { timeout: HEARTBEAT * 10, interval: 20 });
      // Never two at once while it settles: the old one may win again (it retries too), but only alone.
      for (let i = 0; i < 5; i++) {
        expect(leaders(all).length).toBeLessThanOrEqual(1);
        await new Promise((r) => setTimeout(r, HEARTBEAT / 2));
      }
      expect(leaders(all)).toHaveLength(1);
    } finally {
      await c.end();
      await Promise.all(all.map((e) => e.close()));
    }
  });

  test('the leader closing (a process ending) hands over to another node', async () => {
    const url = await server.newDatabase();
    const all = electors(url, 3);
    try {
      await Promise.all(all.map((e) => e.start()));
      await vi.waitFor(() => expect(leaders(all)).toHaveLength(1), { timeout: HEARTBEAT * 10, interval: 20 });
      const old = leaders(all)[0]!;
      await old.close();
      expect(old.isLeader).toBe(false);
      const rest = all.filter((e) => e !== old);
      await vi.waitFor(() => expect(leaders(rest)).toHaveLength(1), { timeout: HEARTBEAT * 10, interval: 20 });
    } finally {
      await Promise.all(all.map((e) => e.close()));
    }
  });

  test('a job started on leadership runs on one node only, and moves with the leadership', async () => {
    const url = await server.newDatabase();
    const all = electors(url, 3);
    const runs = new Map<string, number>();
    const timers = new Map<LeaderElection, NodeJS.Timeout>();
    all.forEach((e, i) => e.onLeadership((leader) => {
      clearInterval(timers.get(e));
      if (leader) timers.set(e, setInterval(() => runs.set(`n${i}`, (runs.get(`n${i}`) ?? 0) + 1), 20));
    }));
    try {
      await Promise.all(all.map((e) => e.start()));
      await vi.waitFor(() => expect(runs.size).toBe(1), { timeout: HEARTBEAT * 10, interval: 20 });
      await new Promise((r) => setTimeout(r, 300));
      expect([...runs.keys()]).toHaveLength(1);
      const first = [...runs.keys()][0]!;
      await all[Number(first.slice(1))]!.close();
      runs.clear();
      await vi.waitFor(() => expect(runs.size).toBe(1), { timeout: HEARTBEAT * 10, interval: 20 });
      expect([...runs.keys()][0]).not.toBe(first);
    } finally {
      for (const t of timers.values()) clearInterval(t);
      await Promise.all(all.map((e) => e.close()));
    }
  });

  test('membership: nodes join with PostgreSQL\'s time, the live count reaches every node as an event, a clean leave removes the row', async () => {
    const url = await server.newDatabase();
    const opts = { connectionString: url, heartbeatMs: 100, memberTimeoutMs: 2000 };
    const a = await Membership.join({ ...opts, nodeId: 'node-a' });
    const seen: number[] = [];
    a.onChange((n) => seen.push(n));
    const b = await Membership.join({ ...opts, nodeId: 'node-b', host: 'host-b', pid: 4242 });
    const c = await Membership.join({ ...opts, nodeId: 'node-c' });
    try {
      await vi.waitFor(() => expect(a.liveNodes).toBe(3), { timeout: 5000, interval: 20 });
      expect(seen.at(-1)).toBe(3);
      const rows = await a.members();
      expect(rows.map((r) => r.nodeId).sort()).toEqual(['node-a', 'node-b', 'node-c']);
      const rb = rows.find((r) => r.nodeId === 'node-b')!;
      expect(rb).toMatchObject({ host: 'host-b', pid: 4242, live: true });
      expect(Date.parse(rb.heartbeatAt)).toBeGreaterThanOrEqual(Date.parse(rb.startedAt));
      await b.close();
      expect((await a.members()).map((r) => r.nodeId).sort()).toEqual(['node-a', 'node-c']);
      await vi.waitFor(() => expect(a.liveNodes).toBe(2), { timeout: 5000, interval: 20 });
      expect(seen.at(-1)).toBe(2);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  test('membership: a node that stops beating without leaving is no longer counted after the member timeout', async () => {
    const url = await server.newDatabase();
    const opts = { connectionString: url, heartbeatMs: 100, memberTimeoutMs: 1500 };
    const a = await Membership.join({ ...opts, nodeId: 'node-a' });
    const c = await admin(url);
    try {
      // A row as a crashed node leaves it: heartbeat ten seconds old, by the database's clock.
      await c.query(`INSERT INTO cluster_members (node_id, host, pid, instance, started_at, heartbeat_at)
        VALUES ('crashed', 'h', 1, 'x', now() - interval '20 s', now() - interval '10 s')`);
      await c.query(`INSERT INTO cluster_members (node_id, host, pid, instance, started_at, heartbeat_at)
        VALUES ('fresh', 'h', 2, 'y', clock_timestamp(), clock_timestamp())`);
      await vi.waitFor(() => expect(a.liveNodes).toBe(2), { timeout: 5000, interval: 20 });
      const rows = await a.members();
      expect(rows.find((r) => r.nodeId === 'crashed')?.live).toBe(false);
      // The fresh one is not renewed: it too drops out after the timeout.
      await vi.waitFor(() => expect(a.liveNodes).toBe(1), { timeout: 6000, interval: 20 });
    } finally {
      await c.end();
      await a.close();
    }
  });
}
