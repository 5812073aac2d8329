import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_DEFAULTS, loadConfig, parseConfig } from '../../src/config/load.ts';
import { isTiqError } from '../../src/errors.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (isTiqError(err) && err.code === 'TIQ_ERR_CONFIG') return (err.detail?.['problems'] as string[]) ?? [];
    throw err;
  }
  throw new Error('expected TIQ_ERR_CONFIG');
}

describe('configuration', () => {
  it('the development defaults fill every section, nested defaults included', () => {
    const c = parseConfig(DEVELOPMENT_DEFAULTS);
    expect(c.mqtt).toMatchObject({ port: 8883, connectTimeoutMs: 10_000, maxRefusalsBeforeDisconnect: 3 });
    expect(c.admin).toMatchObject({ port: 8443, mtlsPort: 8444 });
    expect(c.tenants['demo']?.apps['dashboard']).toEqual({ events: true });
    expect(Object.keys(c.streams)).toEqual(['sensor', 'location']);
    expect(Object.isFrozen(c.mqtt)).toBe(true);
    // MQTT over WebSocket is on in development: tokens on 8884, certificates on 8885.
    expect(c.websocket).toEqual({ enabled: true, host: '0.0.0.0', port: 8884, mtlsPort: 8885, appClaim: 'app' });
  });

  it('a config file that does not name the WebSocket listeners opens none', () => {
    expect(parseConfig({ tenants: {} }).websocket).toEqual({ enabled: false, host: '0.0.0.0', port: 8884, appClaim: 'app' });
    const { config } = loadConfig('config/gateway.example.yaml', join(import.meta.dirname, '../..'));
    expect(config.websocket).toMatchObject({ enabled: true, port: 8884, mtlsPort: 8885 });
  });

  it('the shipped example is valid', () => {
    const { config } = loadConfig('config/gateway.example.yaml', join(import.meta.dirname, '../..'));
    expect(config.tenants['acme']?.apps['dispatch']).toEqual({ streams: ['location'], deviceGroups: ['trucks'] });
  });

  it('no file and no --config means the development defaults', () => {
    expect(loadConfig(undefined, FIXTURES).source).toBeUndefined();
  });

  it('a --config that does not exist is an error, not the defaults', () => {
    expect(problemsOf(() => loadConfig('nope.yaml', FIXTURES))).toEqual(['file not found']);
  });

  it('rejects unknown keys, reporting every one at once with its path', () => {
    const problems = problemsOf(() => loadConfig('invalid_unknown_keys.yaml', FIXTURES));
    expect(problems.join('\n')).toMatch(/mqtt.*prot/);
    expect(problems.join('\n')).toMatch(/tenants\.acme.*appz/);
  });

  it('rejects bad ids and types, all of them in one report', () => {
    const problems = problemsOf(() => loadConfig('invalid_ids_and_types.yaml', FIXTURES));
    expect(problems.some((p) => p.startsWith('mqtt.port'))).toBe(true);
    expect(problems.some((p) => p.includes('Acme_Corp'))).toBe(true);
    expect(problems.some((p) => p.includes('Location'))).toBe(true);
  });

  it('reports unparsable YAML with the file name', () => {
    expect(problemsOf(() => loadConfig('invalid_yaml.yaml', FIXTURES))[0]).toMatch(/not valid YAML/);
  });

  it('every invalid_* fixture is refused', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.startsWith('invalid_'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(problemsOf(() => loadConfig(f, FIXTURES)).length).toBeGreaterThan(0);
  });
});
