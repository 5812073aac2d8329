/**
 * The container packaging (Dockerfile, docker-compose.yml, deploy/compose/):
 * the compose file passes `docker-compose config` (the Compose schema and
 * interpolation, no daemon needed), the HAProxy config passes `haproxy -c`,
 * the gateway config passes the gateway's own parser, and the Dockerfile is
 * multi-stage, runs compiled JavaScript as an unprivileged user and copies no
 * key, certificate or secret into the image.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { TestPki } from '../helpers/pki.ts';

const ROOT = join(import.meta.dirname, '../..');
const COMPOSE = join(ROOT, 'docker-compose.yml');
const HAPROXY_CFG = join(ROOT, 'deploy/haproxy/haproxy.cfg');
const GATEWAY_CFG = join(ROOT, 'deploy/compose/gateway.yaml');
const DOCKERFILE = join(ROOT, 'Dockerfile');

const has = (tool: string, arg = '--version') => spawnSync(tool, [arg]).error === undefined;
const haveCompose = has('docker-compose');
const haveHaproxy = has('/usr/sbin/haproxy', '-v');
if (process.env['CI'] === 'true' && !(haveCompose && haveHaproxy)) {
  throw new Error('docker-compose (apt: docker-compose) and haproxy (apt: haproxy) are required under CI (.ci/run installs them)');
}

interface Instruction { readonly keyword: string; readonly args: string }

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const [keyword, ...rest] = l.split(/\s+/); return { keyword: keyword!.toUpperCase(), args: rest.join(' ') }; });
}

describe('container packaging', () => {
  it.runIf(haveCompose || process.env['CI'] === 'true')('docker-compose.yml passes `docker-compose config`', () => {
    const r = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '-q'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs three gateways from the Dockerfile behind HAProxy, with NATS and PostgreSQL, secrets from files', () => {
    const doc = parseYaml(readFileSync(COMPOSE, 'utf8'), { merge: true }) as {
      services: Record<string, { build?: unknown; image?: string; volumes?: string[]; secrets?: string[]; hostname?: string }>;
      secrets: Record<string, { file: string }>;
    };
    const gateways = Object.entries(doc.services).filter(([, s]) => s.build !== undefined);
    expect(gateways.map(([n]) => n).sort()).toEqual(['gateway-1', 'gateway-2', 'gateway-3']);
    for (const [name, s] of gateways) {
      expect(s.hostname).toBe(name);
      expect(s.secrets).toEqual(expect.arrayContaining(['root_key', 'ticket_secret']));
      // The idempotency key is derived from the ticket secret in cluster mode: no file of its own.
      expect(s.volumes?.some((v) => v.includes('idempotency'))).toBe(false);
      expect(s.volumes).toContain(`data-${name.slice(-1)}:/var/lib/thingiq`);
    }
    expect(Object.keys(doc.services)).toEqual(expect.arrayContaining(['postgres', 'nats', 'haproxy']));
    for (const secret of Object.values(doc.secrets)) expect(secret.file).toMatch(/^\.\/deploy\/compose\/secrets\//);
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8')).toMatch(/^deploy\/compose\/secrets\/$/m);
  });

  it('deploy/compose/gateway.yaml is a valid cluster configuration', () => {
    const config = parseConfig(parseYaml(readFileSync(GATEWAY_CFG, 'utf8')), GATEWAY_CFG);
    expect(config.cluster?.nats.servers).toEqual(['nats://nats:4222']);
    expect(config.controlStore?.type).toBe('postgres');
    expect(Object.values(config.storage?.sinks ?? {}).map((s) => s.type)).toEqual(['postgres']);
    expect(config.mqtt.proxyProtocol).toBe(true);
    // No password in the file: node-postgres reads PGPASSFILE.
    expect(readFileSync(GATEWAY_CFG, 'utf8')).not.toMatch(/postgresql:\/\/[^@\s]*:[^@\s]*@/);
  });

  it.runIf(haveHaproxy || process.env['CI'] === 'true')('HAProxy runs deploy/haproxy/haproxy.cfg with the compose environment, and `haproxy -c` accepts it', () => {
    const doc = parseYaml(readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: { haproxy: { environment: Record<string, string>; volumes: string[] } } };
    const { environment, volumes } = doc.services.haproxy;
    expect(volumes).toContain('./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    const text = readFileSync(HAPROXY_CFG, 'utf8');
    // Every variable the config needs without a default is set by the compose file.
    const required = [...text.matchAll(/\$\{(TIQ_[A-Z0-9_]+)\}/g)].map((m) => m[1]!);
    for (const name of new Set(required)) expect(environment[name], name).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'tiq-haproxy-'));
    const pki = new TestPki(dir);
    const env = { ...process.env, ...environment, TIQ_CA_FILE: join(pki.dir, 'ca.crt'), TIQ_GW1_HOST: '127.0.0.1', TIQ_GW2_HOST: '127.0.0.1', TIQ_GW3_HOST: '127.0.0.1' };
    const r = spawnSync('/usr/sbin/haproxy', ['-c', '-f', HAPROXY_CFG], { encoding: 'utf8', env });
    expect(r.stdout + r.stderr).toContain('Configuration file is valid');
    expect(r.status).toBe(0);
  });

  it('the Dockerfile builds in one stage and runs compiled JavaScript as a non-root user in another, with no key baked in', () => {
    const ins = instructions(readFileSync(DOCKERFILE, 'utf8'));
    const stages = ins.filter((i) => i.keyword === 'FROM');
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const lastFrom = ins.lastIndexOf(stages.at(-1)!);
    const run = ins.slice(lastFrom);
    expect(ins.slice(0, lastFrom).some((i) => i.keyword === 'RUN' && /npm ci/.test(i.args))).toBe(true);
    const user = run.filter((i) => i.keyword === 'USER').at(-1);
    expect(user?.args).toBeDefined();
    expect(['root', '0']).not.toContain(user!.args.split(':')[0]);
    expect(run.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe('["node", "bin/thingiq.js"]');
    // The run stage takes the build stage's output only, never sources or anything from the context.
    const copies = run.filter((i) => i.keyword === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c.args).toMatch(/--from=build/);
    expect(copies.map((c) => c.args).join(' ')).toMatch(/\/app\/dist/);
    for (const i of ins.filter((x) => x.keyword === 'COPY' || x.keyword === 'ADD')) {
      expect(i.args).not.toMatch(/\.key|\.pem|\.crt|certs|secrets|data\b|keyring/);
    }
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['certs', 'data', 'secrets', '*.key', 'node_modules', 'dist']) expect(ignore).toContain(p);
  });
});
