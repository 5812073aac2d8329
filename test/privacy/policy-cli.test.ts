import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerPolicyCommands } from '../../src/cli/policy-commands.ts';
import { readTrace } from '../../src/privacy/preview/trace-reader.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

async function run(args: string[]): Promise<{ out: string[]; err: string[]; code: number }> {
  const out: string[] = [], err: string[] = [];
  const program = new Command('thingiq').option('-c, --config <file>').exitOverride();
  registerPolicyCommands(program, { out: (l) => out.push(l), err: (l) => err.push(l) });
  const before = process.exitCode;
  await program.parseAsync(['node', 'thingiq', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { out, err, code };
}

describe('thingiq policy check', () => {
  it.each(['valid_fleet.yaml', 'valid_single.yaml', 'valid_single.json'])('accepts %s', async (name) => {
    const r = await run(['policy', 'check', join(FIXTURES, name)]);
    expect(r).toMatchObject({ code: 0, err: [] });
    expect(r.out[0]).toMatch(/^OK /);
  });

  const invalid = readdirSync(FIXTURES).filter((f) => f.startsWith('invalid_'));
  it('has invalid fixtures to check', () => expect(invalid.length).toBeGreaterThanOrEqual(8));

  it.each(invalid)('refuses %s with every problem and exit code 1', async (name) => {
    const r = await run(['policy', 'check', join(FIXTURES, name)]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([]);
    expect(r.err[0]).toContain('TIQ_ERR_POLICY_INVALID');
    expect(r.err.length).toBeGreaterThan(1);
  });

  it('lists several problems of one file at once', async () => {
    const r = await run(['policy', 'check', join(FIXTURES, 'invalid_schedule.yaml')]);
    expect(r.err.slice(1).map((l) => l.trim().split(':')[0])).toEqual(['schedule.workingHours.mon.0', 'schedule.workingHours', 'schedule.outside']);
  });
});

describe('thingiq policy preview', () => {
  it('prints before/after per point and draws tracks, zones and cells into one SVG', async () => {
    const svg = join(mkdtempSync(join(tmpdir(), 'tiq-preview-')), 'out.svg');
    const r = await run(['policy', 'preview', '--tenant', 'acme', '--device', 'truck-7', '--trace', join(FIXTURES, 'trace.ndjson'), '--policy', join(FIXTURES, 'valid_fleet.yaml'), '--svg', svg]);
    expect(r.code).toBe(0);
    const rows = r.out[0]!.split('\n').slice(2);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toContain('52.520100');
    expect(rows[0]).toMatch(/strip\s*$/); // inside the depot zone
    expect(rows[1]).toMatch(/coarsen\s*$/);
    expect(rows[2]).toMatch(/drop \(privacy-zone\)\s*$/); // inside home-1
    expect(rows[3]).toMatch(/strip\s*$/); // 19:00 local: outside working hours
    const doc = readFileSync(svg, 'utf8');
    expect(doc.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(doc).not.toMatch(/href=|<script/); // self-contained
    expect(doc.match(/<g class="zones"[\s\S]*?<\/g>/)?.[0].match(/<polygon/g)).toHaveLength(2);
    expect(doc.match(/<g class="cells"[\s\S]*?<\/g>/)?.[0].match(/<polygon/g)).toHaveLength(1);
    expect(doc.match(/<g class="before-points"[\s\S]*?<\/g>/)?.[0].match(/<circle/g)).toHaveLength(4);
    expect(doc.match(/<g class="after-points"[\s\S]*?<\/g>/)?.[0].match(/<circle/g)).toHaveLength(1);
  });

  it('reads the policy from the gateway config given by the global --config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-preview-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, 'tenants:\n  acme:\n    privacy:\n      policyId: cfg\n      version: 4\n      defaults: { "*": { action: coarsen, coarsen: { method: decimal, places: 1 } } }\n');
    const r = await run(['--config', config, 'policy', 'preview', '--tenant', 'acme', '--trace', join(FIXTURES, 'trace.gpx')]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toContain('52.500000');
    expect(r.out[0]!.split('\n')).toHaveLength(5);
    const missing = await run(['--config', config, 'policy', 'preview', '--tenant', 'nobody', '--trace', join(FIXTURES, 'trace.gpx')]);
    expect(missing.code).toBe(1);
  });

  it('reads GPX and proto3 JSON names', () => {
    expect(readTrace(readFileSync(join(FIXTURES, 'trace.gpx'), 'utf8'))).toEqual([
      { sequence: 1, latitude: 52.5201, longitude: 13.4051, altitudeM: 34.5, timeUnixMs: Date.parse('2024-06-05T09:00:00Z') },
      { sequence: 2, latitude: 52.5301, longitude: 13.4151, timeUnixMs: Date.parse('2024-06-05T09:01:00Z') },
      { sequence: 3, latitude: 52.5401, longitude: 13.4251 },
    ]);
    expect(readTrace(readFileSync(join(FIXTURES, 'trace.ndjson'), 'utf8'))[0]).toEqual({ timeUnixMs: 1717578000000, sequence: 1, latitude: 52.5201, longitude: 13.4051, speedMps: 8.3, headingDeg: 90 });
  });
});
