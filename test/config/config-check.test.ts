/**
 * `thingiq config check` on fixtures: every problem in one report with its
 * path, exit code 2; OK and exit 0 for a valid file; problems of the admin
 * API's state over the file count too. The fixtures go through the check
 * in-process; exit codes and output through the real command.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigFile } from '../../src/cli/config-commands.ts';
import { runCli } from '../cli/run-cli.ts';

const ROOT = join(import.meta.dirname, '../..');
const FIXTURES = join(import.meta.dirname, 'fixtures');

const CLI_TIMEOUT = 180_000;

async function check(file: string, cwd = ROOT) {
  const result = await checkConfigFile(resolve(cwd, file), cwd);
  return { code: result.ok ? 0 : 2, result };
}

describe('thingiq config check', () => {
  it('the shipped example is OK, exit 0', async () => {
    const r = await runCli(ROOT, ['config', 'check', 'config/gateway.example.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK /);
  }, CLI_TIMEOUT);

  it('every invalid_* fixture: exit 2, TIQ_ERR_CONFIG, at least one problem', async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.startsWith('invalid_'));
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const f of files) {
      const { code, result } = (await check(join(FIXTURES, f)));
      expect({ f, code, ok: result.ok, errorCode: result.code }).toEqual({ f, code: 2, ok: false, errorCode: 'TIQ_ERR_CONFIG' });
      expect(result.problems.length).toBeGreaterThan(0);
    }
  });

  it('empty, truncated, non-mapping and cut-off files are each refused with the problem at the root or at tenants', async () => {
    const problemOf = async (f: string) => (await check(join(FIXTURES, f))).result.problems;
    expect(await problemOf('invalid_empty.yaml')).toEqual([expect.stringMatching(/^\(root\): /)]);
    expect(await problemOf('invalid_truncated.yaml')).toEqual([expect.stringMatching(/^tenants: /)]);
    expect(await problemOf('invalid_not_mapping.yaml')).toEqual([expect.stringMatching(/^\(root\): /)]);
    expect(await problemOf('invalid_two_documents.yaml')).toEqual([expect.stringMatching(/^\(root\): /)]);
    expect(await problemOf('invalid_tenants_cut_off.yaml')).toEqual([expect.stringMatching(/^tenants: /)]);
    expect(await problemOf('invalid_duplicate_key.yaml')).toEqual([expect.stringMatching(/line 3, column 1: DUPLICATE_KEY/)]);
  });

  it('reports every problem at once: schema-valid file with missing file, unknown message types and a policy naming no group', async () => {
    const { code, result } = (await check(join(FIXTURES, 'check_many_problems.yaml')));
    expect(code).toBe(2);
    expect(result.problems.map((p) => p.split(':')[0])).toEqual([
      'externalCa.caFile',
      'streams.humidity.messageType',
      'tenants.acme.streams.cargo.messageType',
      'tenants.acme.privacy.groups.0.group',
    ]);
  });

  it('all schema problems of a file come in one report, human-readable on stderr', async () => {
    const r = await runCli(ROOT, ['config', 'check', join(FIXTURES, 'invalid_ids_and_types.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TIQ_ERR_CONFIG, 3 problem(s)');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(3);
  }, CLI_TIMEOUT);

  it('a missing file, and the default file taken from --config', async () => {
    const missing = (await check(join(FIXTURES, 'no-such.yaml')));
    expect(missing.code).toBe(2);
    expect(missing.result.problems).toEqual(['file not found']);
    const r = await runCli(ROOT, ['--config', join(FIXTURES, 'invalid_empty.yaml'), 'config', 'check', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: 'TIQ_ERR_CONFIG', problems: [expect.stringMatching(/^\(root\)/)] });
  }, CLI_TIMEOUT);

  it('checks the file with the admin API state of its data directory, as the gateway would run it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-check-'));
    writeFileSync(join(dir, 'gateway.yaml'), 'dataDir: data\ntenants:\n  acme:\n    deviceGroups: { trucks: [truck-1] }\n    apps: { dash: {} }\n');
    expect(((await check('gateway.yaml', dir))).code).toBe(0);
    // The API put a policy for a device group the file no longer has.
    mkdirSync(join(dir, 'data', 'privacy'), { recursive: true });
    writeFileSync(join(dir, 'data', 'privacy', 'policies.json'), JSON.stringify({
      acme: { policyId: 'api', version: 2, defaults: { '*': { action: 'keep' } }, groups: [{ group: 'vans', rules: { '*': { action: 'strip' } } }] },
    }));
    const { code, result } = (await check('gateway.yaml', dir));
    expect(code).toBe(2);
    expect(result.problems).toEqual([expect.stringMatching(/^tenants\.acme\.privacy\.groups\.0\.group/)]);
    // An app the API deleted is gone from what would run; the file alone stays valid.
    writeFileSync(join(dir, 'data', 'privacy', 'policies.json'), '{}');
    mkdirSync(join(dir, 'data', 'admin'), { recursive: true });
    writeFileSync(join(dir, 'data', 'admin', 'tenants.json'), JSON.stringify({ version: 1, tenants: { acme: { apps: { dash: null }, deviceGroups: {}, devices: {} } } }));
    expect((await check('gateway.yaml', dir))).toMatchObject({ code: 0, result: { ok: true, tenants: 1 } });
    // A corrupt state file is a problem too, not a crash.
    writeFileSync(join(dir, 'data', 'admin', 'tenants.json'), '{"version":1,"ten');
    const corrupt = (await check('gateway.yaml', dir));
    expect(corrupt.code).toBe(2);
    expect(corrupt.result.problems[0]).toMatch(/not valid JSON/);
  });
});
