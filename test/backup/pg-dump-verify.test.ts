/**
 * `backup verify --pg-dump` against a real pg_dump archive. The Debian
 * PostgreSQL here (server, pg_dump and pg_restore of one major version) runs
 * a throwaway cluster: the embedded server is a newer major version than the
 * system's pg_dump, which refuses to dump a newer server. Under CI=true a
 * missing PostgreSQL installation is a failure (.ci/run installs it).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPgDump } from '../../src/backup/pg-dump-check.ts';
import { PostgresSink } from '../../src/sinks/postgres-sink.ts';
import { freePort } from '../helpers/postgres.ts';

const run = promisify(execFile);

/** The newest Debian PostgreSQL whose server and pg_dump are both installed. */
function systemPostgres(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'pg_dump'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

const bin = systemPostgres();
if (!bin && process.env.CI === 'true') throw new Error('PostgreSQL (Debian package postgresql) is not installed: CI=true makes this a failure, not a skip');

describe.skipIf(!bin)('backup verify --pg-dump with a real pg_dump archive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'thingiq-pgdump-'));
  const data = join(dir, 'cluster');
  let server: ChildProcess | undefined;
  let port = 0;
  const asPostgres = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
  const url = (db: string) => `postgresql://postgres@127.0.0.1:${port}/${db}`;
  const dump = async (db: string, file: string) => {
    await run(join(bin!, 'pg_dump'), ['-Fc', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-f', file, db]);
    return file;
  };

  beforeAll(async () => {
    chmodSync(dir, 0o777);
    await run(join(bin!, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust'], asPostgres);
    port = await freePort();
    server = spawn(join(bin!, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'], { ...asPostgres, stdio: 'ignore' });
    for (let i = 0; ; i++) {
      const c = new pg.Client({ connectionString: url('postgres') });
      try {
        await c.connect();
        await c.query('CREATE DATABASE sink');
        await c.query('CREATE DATABASE other');
        await c.end();
        break;
      } catch (err) {
        await c.end().catch(() => undefined);
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const sink = new PostgresSink('eu', { connectionString: url('sink'), durability: 'fsync', poolSize: 2 });
    await sink.start();
    await sink.putDataKey({ tenantId: 'acme', dekId: 'dek-1', deviceId: 'truck-1', kekRef: 'device:acme:truck-1:1', wrapped: Buffer.alloc(40, 7), createdAtMs: Date.now() });
    await sink.close();
  }, 120_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGINT');
      await new Promise((r) => server!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('a custom-format dump of a PostgreSQL sink passes, naming its tables', async () => {
    const file = await dump('sink', join(dir, 'sink.dump'));
    const checked = await checkPgDump(file, join(bin!, 'pg_restore'));
    expect(checked.tables).toEqual(expect.arrayContaining(['tiq_data_keys', 'tiq_record_keys', 'tiq_records']));
  });

  it('a dump of another database, a schema-only dump, a truncated dump and a plain-SQL dump are refused with TIQ_ERR_BACKUP_CORRUPT', async () => {
    const schemaOnly = join(dir, 'schema.dump');
    await run(join(bin!, 'pg_dump'), ['-Fc', '--schema-only', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-f', schemaOnly, 'sink']);
    await expect(checkPgDump(schemaOnly, join(bin!, 'pg_restore'))).rejects.toMatchObject({ code: 'TIQ_ERR_BACKUP_CORRUPT' });
    const other = await dump('other', join(dir, 'other.dump'));
    await expect(checkPgDump(other, join(bin!, 'pg_restore'))).rejects.toMatchObject({ code: 'TIQ_ERR_BACKUP_CORRUPT' });
    const whole = await dump('sink', join(dir, 'whole.dump'));
    const truncated = join(dir, 'truncated.dump');
    const bytes = execFileSync('head', ['-c', '2000', whole]);
    writeFileSync(truncated, bytes);
    await expect(checkPgDump(truncated, join(bin!, 'pg_restore'))).rejects.toMatchObject({ code: 'TIQ_ERR_BACKUP_CORRUPT' });
    const plain = join(dir, 'plain.sql');
    await run(join(bin!, 'pg_dump'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-f', plain, 'sink']);
    await expect(checkPgDump(plain, join(bin!, 'pg_restore'))).rejects.toMatchObject({ code: 'TIQ_ERR_BACKUP_CORRUPT' });
  });
});
