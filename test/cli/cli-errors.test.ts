/**
 * Every command of the `thingiq` program (enumerated from the commander tree,
 * so a new command is covered) given bad input: an unknown option, missing
 * required input, an invalid id, a bad number, a missing input file. Each is
 * refused with exit code 2 as the README documents, one message on stderr and
 * never a stack trace. The program runs in-process (the same parse and error
 * path as bin/thingiq.js); cli-process.test.ts spawns the real binary.
 */
import type { Command } from 'commander';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, commandPath, leafCommands } from '../../src/cli/program.ts';
import { runProgram } from '../../src/cli/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'thingiq-cli-errors-'));
const CONFIG = join(dir, 'gateway.yaml');
const POLICY = join(dir, 'policy.yaml');
const TRACE = join(import.meta.dirname, '../privacy/fixtures/trace.gpx');
const MISSING = join(dir, 'no-such-file');
const STACK = /^\s+at .+:\d+(:\d+)?\)?$/m;

/** Valid values, so that the one bad value under test is the only problem. */
const VALID: Record<string, string> = {
  tenant: 'acme', device: 'truck-1', app: 'dash', name: 'alice', group: 'trucks', class: 'loc-30d', stream: 'location',
  days: '30', devices: '2', rate: '1', duration: '1', port: '8883', limit: '10', after: '0', from: '2026-01-01', to: '2026-02-01',
  trace: TRACE, file: POLICY, policy: POLICY, csr: POLICY, ca: POLICY, cert: POLICY, key: POLICY, mode: 'drop', format: 'csv', serial: 'ab12',
  keyFile: POLICY, checkpoint: POLICY, out: join(dir, 'backup.tiqbak'), pgDump: POLICY,
  claim: 'line-1', pattern: 'truck-*', max: '5', url: 'https://127.0.0.1:9', claimCert: POLICY, claimKey: POLICY,
};
const POSITIONAL: Record<string, string[]> = { 'policy check': [POLICY], 'admin call': ['GET', '/v1/tenants'], 'backup verify': [POLICY], 'backup restore': [POLICY] };
/** Ids, numbers and input files by option name; `after` is a number only where it counts entries. */
const IDS = ['tenant', 'device', 'app', 'name', 'group', 'class', 'claim'];
const NUMBERS = ['days', 'devices', 'rate', 'duration', 'port', 'limit'];
const FILES = ['trace', 'file', 'policy', 'csr', 'ca', 'cert', 'key', 'keyFile', 'checkpoint', 'pgDump', 'claimCert', 'claimKey'];
/** Commands that only read: each must offer --json. Every command must be listed here or in WRITES. */
const READS = ['pki list', 'keys status', 'audit verify', 'audit query', 'records count', 'policy check', 'policy preview', 'admin tenants', 'admin devices list', 'config check', 'config show', 'backup verify',
  'provisioning claim list'];
const WRITES = ['start', 'pki init', 'pki issue device', 'pki issue app', 'pki issue operator', 'pki revoke', 'simulate', 'keys rotate', 'keys rewrap', 'keys shred',
  'records export', 'records replay', 'records tail', 'retention set', 'retention hold', 'retention release', 'retention sweep', 'admin devices issue', 'admin devices revoke', 'admin devices restrict',
  'admin subject access', 'admin subject erase', 'admin private-mode on', 'admin private-mode off', 'admin policy-put', 'admin call', 'backup create', 'backup restore', 'console',
  'pki sign-csr', 'provisioning claim create', 'provisioning claim revoke', 'provisioning register'];

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { out += String(c); return true; });
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { err += String(c); return true; });
  process.exitCode = undefined;
  try {
    await runProgram(buildProgram(), ['node', 'thingiq', '--config', CONFIG, ...args]);
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, out, err };
}

/** Options that take a value, with the command they belong to (an ancestor's, like `admin --ca`, included). */
function valueOptions(cmd: Command): { name: string; mandatory: boolean }[] {
  const all: { name: string; mandatory: boolean }[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) {
    for (const o of c.options) if (o.required || o.optional) all.push({ name: o.attributeName(), mandatory: o.mandatory });
  }
  return all;
}

function argsFor(cmd: Command, override: Record<string, string> = {}): string[] {
  const path = commandPath(cmd);
  const opts = valueOptions(cmd).filter((o) => o.mandatory || o.name in override)
    .flatMap((o) => [`--${o.name.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`, override[o.name] ?? VALID[o.name]!]);
  return [...path.split(' '), ...(POSITIONAL[path] ?? []), ...opts];
}

const leaves = leafCommands(buildProgram());
const paths = leaves.map(commandPath);

beforeAll(() => {
  writeFileSync(CONFIG, `dataDir: ${join(dir, 'data')}\npkiDir: ${join(dir, 'certs')}\ntenants:\n  acme:\n    deviceGroups: { trucks: [truck-1] }\n`);
  writeFileSync(POLICY, 'policyId: p\nversion: 1\ndefaults:\n  "*": { action: strip }\n');
  // buildProgram registers one beforeExit listener per program (records export closes its stores there).
  process.setMaxListeners(0);
});
afterAll(() => { process.exitCode = undefined; });

describe('every thingiq command', () => {
  it('is classified as a read (with --json) or a write, and has valid values for its options', () => {
    expect(paths.length).toBeGreaterThan(25);
    expect([...paths].sort()).toEqual([...READS, ...WRITES].sort());
    for (const path of READS) {
      const names = valueOptions(leaves[paths.indexOf(path)]!).map((o) => o.name);
      const flags: (string | undefined)[] = [];
      for (let c: Command | null = leaves[paths.indexOf(path)]!; c?.parent; c = c.parent) flags.push(...c.options.map((o) => o.long));
      expect(flags, `${path} --json`).toContain('--json');
      expect(names.every((n) => n in VALID || n === 'svg' || n === 'out' || n === 'actor' || n === 'action' || n === 'reason' || n === 'url' || n === 'token' || n === 'data'), path).toBe(true);
    }
    for (const leaf of leaves) {
      if (leaf.registeredArguments.some((a) => a.required)) expect(POSITIONAL[commandPath(leaf)], commandPath(leaf)).toBeDefined();
      for (const o of valueOptions(leaf)) if (o.mandatory) expect(VALID[o.name], `${commandPath(leaf)} --${o.name}`).toBeDefined();
    }
  });

  it.each(paths)('%s: an unknown option exits 2 without a stack trace', async (path) => {
    const r = await run([...path.split(' '), '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option|required option|missing required argument/);
    expect(r.err).not.toMatch(STACK);
  });

  it.each(paths.filter((p) => valueOptions(leaves[paths.indexOf(p)]!).some((o) => o.mandatory) || POSITIONAL[p]))('%s: missing required input exits 2', async (path) => {
    const r = await run(path.split(' '));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/required option|missing required argument/);
    expect(r.err).not.toMatch(STACK);
  });

  const badInputs = leaves.flatMap((leaf) => valueOptions(leaf).flatMap((o) => {
    const path = commandPath(leaf);
    if (IDS.includes(o.name)) return [{ path, option: o.name, value: 'Bad Id!', code: 'TIQ_ERR_INVALID_ID' }];
    if (NUMBERS.includes(o.name) || (o.name === 'after' && path === 'audit query')) return [{ path, option: o.name, value: 'abc', code: 'TIQ_ERR_USAGE' }];
    if (FILES.includes(o.name)) return [{ path, option: o.name, value: MISSING, code: 'TIQ_ERR_USAGE' }];
    if (['from', 'to', 'format', 'mode'].includes(o.name)) return [{ path, option: o.name, value: 'nonsense', code: 'TIQ_ERR_USAGE' }];
    return [];
  }));

  it('has bad inputs to try for most commands', () => {
    expect(new Set(badInputs.map((b) => b.path)).size).toBeGreaterThan(20);
  });

  it.each(badInputs)('$path --$option $value: exit 2, $code, no stack trace, nothing printed on stdout', async ({ path, option, value, code }) => {
    const r = await run(argsFor(leaves[paths.indexOf(path)]!, { [option]: value }));
    expect(r.code).toBe(2);
    expect(r.err).toContain(code);
    expect(r.err).not.toMatch(STACK);
    expect(r.out).toBe('');
  });

  // `provisioning register` names the remote gateway's tenant, which this machine's config need not know.
  it.each(paths.filter((p) => valueOptions(leaves[paths.indexOf(p)]!).some((o) => o.name === 'tenant') && !['pki list', 'audit query', 'provisioning register'].includes(p) && !p.startsWith('admin ')))(
    '%s --tenant nosuch: exit 2, TIQ_ERR_TENANT_UNKNOWN', async (path) => {
      const r = await run(argsFor(leaves[paths.indexOf(path)]!, { tenant: 'nosuch' }).filter((a, i, all) => !(path === 'policy preview' && (a === '--policy' || all[i - 1] === '--policy'))));
      expect(r.code).toBe(2);
      expect(r.err).toContain('TIQ_ERR_TENANT_UNKNOWN');
      expect(r.err).not.toMatch(STACK);
    });
});

describe('specific refusals and --json', () => {
  it('admin subject erase without --yes is a usage error (exit 2, TIQ_ERR_USAGE), asked before any request', async () => {
    const r = await run(['admin', '--url', 'https://127.0.0.1:9', '--ca', POLICY, 'subject', 'erase', '--tenant', 'acme', '--device', 'truck-1']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('TIQ_ERR_USAGE');
    expect(r.err).not.toContain('TIQ_ERR_CONFIG');
  });

  it('records count --json, policy check --json and policy preview --json print JSON', async () => {
    const count = await run(['records', 'count', '--tenant', 'acme', '--json']);
    expect(count.code).toBe(0);
    expect(JSON.parse(count.out)).toEqual({ tenant: 'acme', count: 0 });
    const check = await run(['policy', 'check', POLICY, '--json']);
    expect(JSON.parse(check.out)).toMatchObject({ ok: true, policies: [{ policyId: 'p', version: 1 }] });
    const preview = await run(['policy', 'preview', '--tenant', 'acme', '--trace', TRACE, '--policy', POLICY, '--json']);
    expect(preview.code).toBe(0);
    const rows = JSON.parse(preview.out) as { index: number; applied: unknown }[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]).toHaveProperty('applied');
  });

  it('--help and --version exit 0', async () => {
    expect((await run(['--help'])).code).toBe(0);
    expect((await run(['--version'])).code).toBe(0);
  });
});
