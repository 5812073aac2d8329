/**
 * The files in deploy/: the Prometheus rules pass promtool's check and unit
 * tests, the systemd unit passes systemd-analyze, and every PromQL
 * expression of the rules and the Grafana dashboard names a metric that a
 * real gateway exports (read from its own /metrics exposition).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ERROR_CATALOGUE } from '../../src/errors.ts';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';

const DEPLOY = join(import.meta.dirname, '../../deploy');
const RULES = join(DEPLOY, 'prometheus/thingiq-alerts.yml');
const DASHBOARD = join(DEPLOY, 'grafana/thingiq-gateway.json');
const UNIT = join(DEPLOY, 'systemd/thingiq-gateway.service');

const has = (tool: string) => spawnSync(tool, ['--version']).error === undefined;
const havePromtool = has('promtool');
const haveSystemd = has('systemd-analyze');
if (process.env['CI'] === 'true' && !(havePromtool && haveSystemd)) {
  throw new Error('promtool (apt: prometheus) and systemd-analyze (apt: systemd) are required under CI (.ci/run installs them)');
}

/** Series Prometheus makes itself, not the gateway. */
const PROMETHEUS_OWN = new Set(['up']);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression selects: identifiers that are not functions, keywords, labels or numbers. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\$\w+/g, '');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

function ruleExpressions(): { alert: string; expr: string }[] {
  const doc = parseYaml(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

function dashboardExpressions(): { title: string; expr: string }[] {
  const doc = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { definition?: string }[] } };
  return [
    ...doc.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr }))),
    ...doc.templating.list.filter((v) => v.definition).map((v) => ({ title: 'variable', expr: v.definition!.replace(/^label_values\((\w+).*$/, '$1') })),
  ];
}

describe('PromQL in deploy/ names metrics the gateway exports', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let exported: Set<string>;

  beforeAll(async () => {
    gw = await startGateway(pki);
    const text = await gw.gateway.stats.registry.metrics();
    exported = new Set();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name!);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name! + suffix);
      if (type === 'summary') for (const suffix of ['_sum', '_count']) exported.add(name! + suffix);
    }
  });
  afterAll(async () => {
    await gw?.gateway.close();
  });

  it('the name extraction finds the selectors and ignores functions, labels and keywords', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (instance, le) (rate(thingiq_pipeline_seconds_bucket{code="x"}[5m]))) > 0.1'))
      .toEqual(['thingiq_pipeline_seconds_bucket']);
    expect(metricNames('thingiq_a > 1 and deriv(thingiq_b[10m]) > 0 unless on (x) up')).toEqual(['thingiq_a', 'thingiq_b', 'up']);
  });

  it('every alert rule', () => {
    const rules = ruleExpressions();
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const { alert, expr } of rules) {
      const names = metricNames(expr);
      expect(names.length, alert).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name) || PROMETHEUS_OWN.has(name), `${alert}: ${name}`).toBe(true);
    }
  });

  it('every dashboard panel and variable', () => {
    const exprs = dashboardExpressions();
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    for (const { title, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, title).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${title}: ${name}`).toBe(true);
    }
  });

  it('every error code the rules match on is in the catalogue', () => {
    const codes = [...readFileSync(RULES, 'utf8').matchAll(/code="([A-Z_]+)"/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) expect(Object.keys(ERROR_CATALOGUE), code).toContain(code);
  });
});

describe.skipIf(!havePromtool)('promtool', () => {
  it('checks the alerting rules', () => {
    const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('passes the rules unit tests (each alert fires on its failure and stays quiet otherwise)', () => {
    const r = spawnSync('promtool', ['test', 'rules', 'thingiq-alerts.test.yml'], { cwd: join(DEPLOY, 'prometheus'), encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});

describe.skipIf(!haveSystemd)('systemd unit', () => {
  it('passes systemd-analyze verify without a warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // Unknown keys and bad values are warnings (exit 0): any output is a failure.
    expect(r.stderr.trim()).toBe('');
  });

  it('runs as an unprivileged user with a read-only system, its data directory writable, no privilege gain', () => {
    const unit = readFileSync(UNIT, 'utf8');
    expect(unit).toMatch(/^User=(?!root$)\w+$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/thingiq$/m);
    expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
    expect(unit).toMatch(/^LimitNOFILE=\d+$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
  });
});
