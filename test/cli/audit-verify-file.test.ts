/**
 * docs/operations.md, "Restore": the audit log a restore replaces is set
 * aside whole as `audit-before-restore-<time>/` and stays verifiable with
 * `thingiq audit verify --file`. The operator may name that directory or the
 * log file in it: both verify the same chain, with the key and checkpoint
 * beside it. A real gateway writes the log; the real command verifies it.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { CLI_TIMEOUT, publish } from './cli-helpers.ts';
import { runCli } from './run-cli.ts';

describe('audit verify --file takes a set-aside log directory or its file', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const aside = join(dataDir, 'audit-before-restore-2026-12-01T000000000Z');
  const configFile = join(pki.baseDir, 'cli.yaml');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    const gw = await startGateway(pki);
    await publish(gw.port, pki.device('acme', 'truck-2'), 'truck-2', 1);
    await gw.gateway.close();
    cpSync(join(dataDir, 'audit'), aside, { recursive: true });
  }, 60_000);

  it('the directory and the file in it verify alike; query reads the directory too', async () => {
    const byFile = await cli('audit', 'verify', '--file', join(aside, 'audit.jsonl'), '--json');
    expect(byFile.code, byFile.stdout + byFile.stderr).toBe(0);
    const byDir = await cli('audit', 'verify', '--file', aside, '--json');
    expect(byDir.code, byDir.stdout + byDir.stderr).toBe(0);
    const [fileResult, dirResult] = [JSON.parse(byFile.stdout), JSON.parse(byDir.stdout)];
    expect(dirResult.ok).toBe(true);
    expect(dirResult.entries).toBeGreaterThan(0);
    expect(dirResult.head).toEqual(fileResult.head);
    const query = await cli('audit', 'query', '--file', aside, '--json');
    expect(query.code, query.stderr).toBe(0);
    expect(query.stdout.trim().split('\n')).toHaveLength(dirResult.entries);
  }, CLI_TIMEOUT);

  it('a directory without a log fails with TIQ_ERR_AUDIT', async () => {
    const empty = join(pki.baseDir, 'no-log');
    mkdirSync(empty);
    const r = await cli('audit', 'verify', '--file', empty, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: 'TIQ_ERR_AUDIT' });
  }, CLI_TIMEOUT);
});
