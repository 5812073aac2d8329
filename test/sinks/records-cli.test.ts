import { Command } from 'commander';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { registerRecordsCommands } from '../../src/cli/records-commands.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { DAY, decodeJson, openRecord, sealJson } from './fixtures.ts';

let dir: string;
let configFile: string;
let dbPath: string;

async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const program = new Command('thingiq').option('-c, --config <file>').exitOverride();
  registerRecordsCommands(program, { openRecord, decode: decodeJson, stdout, stderr });
  process.exitCode = 0;
  await program.parseAsync(['node', 'thingiq', '-c', configFile, ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString(), code };
}

const now = Date.now();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tiq-cli-'));
  dbPath = join(dir, 'data', 'thingiq.db');
  configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, `dataDir: ${join(dir, 'data')}\ntenants:\n  acme: {}\n`);
  const sink = new SqliteSink('default', { path: dbPath, durability: 'fsync' });
  await sink.start();
  await sink.writeBatch([
    sealJson({ lat: 1 }, { deviceId: 'truck-1', receivedAtMs: now - 40 * DAY, expiresAtMs: now - 10 * DAY }),
    sealJson({ lat: 2 }, { deviceId: 'truck-1', receivedAtMs: now - 2 * DAY, expiresAtMs: now + 28 * DAY }),
    sealJson({ temp: 3 }, { deviceId: 'truck-2', stream: 'sensor', receivedAtMs: now - DAY, expiresAtMs: now + 300 * DAY }),
  ]);
  await sink.close();
});

afterEach(() => { process.exitCode = 0; });

describe('thingiq records / retention', () => {
  test('records count with filters', async () => {
    expect((await cli('records', 'count', '--tenant', 'acme')).out).toBe('3\n');
    expect((await cli('records', 'count', '--tenant', 'acme', '--device', 'truck-1')).out).toBe('2\n');
    expect((await cli('records', 'count', '--tenant', 'acme', '--stream', 'sensor')).out).toBe('1\n');
    expect((await cli('records', 'count', '--tenant', 'acme', '--from', new Date(now - 3 * DAY).toISOString(), '--to', String(now - DAY))).out).toBe('1\n');
  });

  test('records export writes decrypted NDJSON to a 0600 file and CSV to stdout', async () => {
    const file = join(dir, 'export.ndjson');
    const r = await cli('records', 'export', '--tenant', 'acme', '--device', 'truck-1', '--format', 'ndjson', '--out', file);
    expect(r.code).toBe(0);
    expect(r.err).toContain('exported 2 records');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { data: unknown }).data)).toEqual([{ lat: 1 }, { lat: 2 }]);
    const csv = await cli('records', 'export', '--tenant', 'acme', '--format', 'csv');
    expect(csv.out.split('\r\n').filter(Boolean)).toHaveLength(4);
    expect(csv.out).toContain('"{""temp"":3}"');
    expect((await cli('records', 'export', '--tenant', 'acme', '--format', 'xml')).code).toBe(2);
  });

  test('retention set re-tags, hold protects, sweep deletes what expired', async () => {
    const set = await cli('retention', 'set', '--tenant', 'acme', '--stream', 'location', '--days', '1');
    expect(set.out).toContain('location-1d, 1 days; re-tagged 2 records');
    const hold = await cli('retention', 'hold', '--tenant', 'acme', '--device', 'truck-1');
    expect(hold.code).toBe(0);
    expect((await cli('retention', 'sweep')).out).toContain('deleted 0 expired records');
    expect((await cli('retention', 'hold', '--tenant', 'acme', '--device', 'truck-1', '--off')).out).toContain('released');
    expect((await cli('retention', 'sweep')).out).toContain('deleted 2 expired records');
    expect((await cli('records', 'count', '--tenant', 'acme')).out).toBe('1\n');
  }, 120_000);

  test('invalid input is refused with a code and exit status 2 (a usage problem)', async () => {
    const bad = await cli('records', 'count', '--tenant', 'Acme!');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('TIQ_ERR_INVALID_ID');
    const days = await cli('retention', 'set', '--tenant', 'acme', '--stream', 'location', '--days', 'ten');
    expect(days.code).toBe(2);
    expect(days.err).toContain('TIQ_ERR_CONFIG');
  });
});
