/** The data directory's lock: one writer, stale locks of dead processes broken, the holder named in the refusal. */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { DataDirLock, readLockHolder } from '../../src/instance/data-dir-lock.ts';
import { ensureLocalOperator } from '../../src/instance/local-operator.ts';
import { IssuanceRegistry } from '../../src/pki/issuance-registry.ts';
import { TestPki } from '../helpers/pki.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'thingiq-lock-'));

function refusal(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message?: string };
  }
  throw new Error('expected a refusal');
}

describe('data directory lock', () => {
  it('admits one holder at a time, names it in the refusal, and is gone after release', () => {
    const d = dir();
    const lock = DataDirLock.acquire(d, 'cli');
    expect(statSync(join(d, 'thingiq.lock')).mode & 0o777).toBe(0o600);
    expect(readLockHolder(d)).toMatchObject({ pid: process.pid, holder: 'cli' });
    const e = refusal(() => DataDirLock.acquire(d, 'gateway'));
    expect(e.code).toBe('TIQ_ERR_DATA_DIR_LOCKED');
    expect(e.message).toContain(`pid ${process.pid}`);
    lock.release();
    expect(existsSync(join(d, 'thingiq.lock'))).toBe(false);
    DataDirLock.acquire(d, 'gateway').release();
  });

  it('breaks the lock of a process that is gone, and an unwritten lock only once it is old', () => {
    const d = dir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(d, 'thingiq.lock'), JSON.stringify({ pid: dead, holder: 'gateway', since: '', token: 'x' }));
    expect(readLockHolder(d)).toBeUndefined();
    DataDirLock.acquire(d, 'cli').release();

    writeFileSync(join(d, 'thingiq.lock'), '');
    expect(refusal(() => DataDirLock.acquire(d, 'cli')).code).toBe('TIQ_ERR_DATA_DIR_LOCKED');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(d, 'thingiq.lock'), old, old);
    DataDirLock.acquire(d, 'cli').release();
  });

  it('publishing the admin endpoint keeps the lock; release leaves a lock it no longer owns', () => {
    const d = dir();
    const lock = DataDirLock.acquire(d, 'gateway');
    lock.publishAdmin({ url: 'https://127.0.0.1:1', caFile: 'ca', certFile: 'c', keyFile: 'k' });
    expect(readLockHolder(d)).toMatchObject({ holder: 'gateway', admin: { url: 'https://127.0.0.1:1' } });
    expect(statSync(join(d, 'thingiq.lock')).mode & 0o777).toBe(0o600);
    writeFileSync(join(d, 'thingiq.lock'), JSON.stringify({ pid: process.pid, holder: 'cli', since: '', token: 'someone-else' }));
    lock.release();
    expect(existsSync(join(d, 'thingiq.lock'))).toBe(true);
  });

  it('a gateway does not start while a command holds its data directory', async () => {
    const pki = new TestPki();
    const dataDir = join(pki.baseDir, 'data');
    mkdirSync(dataDir, { recursive: true });
    const lock = DataDirLock.acquire(dataDir, 'cli');
    const config = parseConfig({ pkiDir: pki.dir, dataDir, tenants: { acme: {} }, admin: { port: 0, mtlsPort: 0 } });
    await expect(Gateway.start({ config, baseDir: pki.baseDir, mqttPort: 0 })).rejects.toMatchObject({ code: 'TIQ_ERR_DATA_DIR_LOCKED' });
    lock.release();
    const gw = await Gateway.start({ config, baseDir: pki.baseDir, mqttPort: 0 });
    expect(readLockHolder(dataDir)).toMatchObject({ holder: 'gateway', pid: process.pid });
    await gw.close();
    expect(readLockHolder(dataDir)).toBeUndefined();
  });
});

describe('local operator identity', () => {
  it('is issued once, kept while usable, and re-issued when revoked', () => {
    const pki = new TestPki();
    const dataDir = join(pki.baseDir, 'data');
    const first = ensureLocalOperator(pki.dir, dataDir);
    expect(first.issued).toBe(true);
    expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(first.dir).mode & 0o777).toBe(0o700);
    const cert = new X509Certificate(readFileSync(first.certFile));
    expect(cert.subjectAltName).toBe('URI:urn:thingiq:operator:local');
    expect(ensureLocalOperator(pki.dir, dataDir).issued).toBe(false);
    new IssuanceRegistry(join(pki.dir, 'registry.json')).revoke({ serial: cert.serialNumber }, 'test');
    expect(ensureLocalOperator(pki.dir, dataDir).issued).toBe(true);
    expect(new X509Certificate(readFileSync(first.certFile)).serialNumber).not.toBe(cert.serialNumber);
  });
});
