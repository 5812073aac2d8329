import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { withControlStore } from '../../src/cli/control-access.ts';
import { registerKeysCommands } from '../../src/cli/keys-commands.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { openKeyContext } from '../../src/keys/key-context.ts';
import { listVaultTombstones } from '../../src/keys/key-store-paths.ts';
import { RecordSealer } from '../../src/keys/record-sealer.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MemoryDataKeyStore } from '../helpers/memory-data-key-store.ts';
import { expectCode, rootKeyB64, sealInput, sealRecord, tempDir } from './fixtures.ts';

afterEach(() => {
  process.exitCode = undefined;
});

function setup(withControl?: typeof withControlStore) {
  const dir = tempDir();
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, `dataDir: ${join(dir, 'data')}\ntenants:\n  acme: {}\n  globex: {}\n`);
  const env = { THINGIQ_ROOT_KEY: rootKeyB64() };
  const store = new MemoryDataKeyStore();
  const held = new Set<string>();
  const out: string[] = [];
  const err: string[] = [];
  const cli = async (...args: string[]) => {
    const program = new Command('thingiq').option('-c, --config <file>').exitOverride();
    registerKeysCommands(program, { openDataKeyStore: async () => ({ store, isHeld: async (t, d) => held.has(`${t}/${d}`), close: async () => {} }), env, out: (t) => out.push(t), err: (t) => err.push(t), ...(withControl ? { withControl } : {}) });
    await program.parseAsync(['node', 'thingiq', '--config', configFile, 'keys', ...args]);
  };
  const context = () => openKeyContext(loadConfig(configFile).config, store, { env });
  return { dir, store, held, out, err, cli, context };
}

describe('thingiq keys', () => {
  it('rotate, status, rewrap: device keys follow the rotation, older DEKs move under device keys, all records readable', async () => {
    const { store, out, err, cli, context } = setup();
    const ctx = await context();
    const input = sealInput();
    const record = await sealRecord(ctx.sealer, input);
    // A DEK made before device keys existed: wrapped directly under the tenant KEK.
    const legacySealer = new RecordSealer({ provider: ctx.provider, store, limits: { maxMessages: 100, maxAgeMs: 3_600_000, maxOpenKeys: 10 } });
    const legacyInput = sealInput({ deviceId: 'truck-9' });
    const legacy = await sealRecord(legacySealer, legacyInput);
    expect([record.kekRef, legacy.kekRef]).toEqual(['device:acme:truck-1:1', 'local:acme:v1']);
    await ctx.close();

    await cli('rotate', '--tenant', 'acme');
    expect(JSON.parse(out.pop() ?? '')).toMatchObject({ kekRef: 'local:acme:v2', changed: true, deviceKeksRewrapped: 1 });

    await cli('status', '--tenant', 'acme', '--json');
    const status = JSON.parse(out.pop() ?? '');
    expect(status.keks.map((k: { kekRef: string; dataKeys: number; deviceKeks: number; primary: boolean }) => [k.kekRef, k.dataKeys, k.deviceKeks, k.primary]))
      .toEqual([['local:acme:v1', 1, 0, false], ['local:acme:v2', 0, 1, true]]);
    expect(status).toMatchObject({ totalDataKeys: 2, deviceWrappedDataKeys: 1, totalDeviceKeks: 1 });

    await cli('rewrap', '--tenant', 'acme');
    expect(JSON.parse(out.pop() ?? '')).toMatchObject({ scanned: 2, rewrapped: 1, skipped: 1, deviceKeksRewrapped: 0 });
    expect(err.some((l) => /rewrap acme: scanned 2, rewrapped 1/.test(l))).toBe(true);
    expect((await store.getDataKey('acme', legacy.dekId))?.kekRef).toBe('device:acme:truck-9:1');

    await cli('status', '--tenant', 'acme');
    expect(out.pop()).toMatch(/\* local:acme:v2 .* 0 data key\(s\) +2 device key/);

    const after = await context();
    expect(await after.sealer.open(record)).toEqual(input.plaintext);
    expect(await after.sealer.open(legacy)).toEqual(legacyInput.plaintext);
    await after.close();
    expect(process.exitCode).toBeUndefined();
  });

  it('rotate with no gateway running records the new primary in the control store (the old one kept, not primary); status shows the record', async () => {
    const { dir, out, cli, context } = setup(withControlStore);
    const ctx = await context();
    await sealRecord(ctx.sealer, sealInput());
    await ctx.close();
    await cli('rotate', '--tenant', 'acme');
    expect(process.exitCode).toBeUndefined();
    const store = await SqliteControlStore.open({ path: join(dir, 'data', 'control.db') });
    try {
      expect(store.get('kek-version', 'acme/local:acme:v2')).toMatchObject({ tenantId: 'acme', kekRef: 'local:acme:v2', primary: true, actor: 'operator:local' });
      expect(store.get('kek-version', 'acme/local:acme:v1')).toMatchObject({ primary: false });
      // Metadata only: no key bytes in the value.
      expect(Object.keys(store.get('kek-version', 'acme/local:acme:v2')!).sort()).toEqual(['actor', 'createdAtMs', 'kekRef', 'primary', 'tenantId']);
    } finally {
      await store.close();
    }
    await cli('status', '--tenant', 'acme', '--json');
    const status = JSON.parse(out.pop() ?? '') as { keks: { kekRef: string; recorded?: { actor: string; primary: boolean } }[] };
    expect(status.keks.find((k) => k.kekRef === 'local:acme:v2')?.recorded).toMatchObject({ actor: 'operator:local', primary: true });
    await cli('status', '--tenant', 'acme');
    expect(out.pop()).toMatch(/\* local:acme:v2 .* by operator:local \(primary\)/);
  });

  it('shred: refuses without --yes, then destroys, writes a 0600 receipt naming the actor', async () => {
    const { dir, out, err, cli, context } = setup();
    const ctx = await context();
    const record = await sealRecord(ctx.sealer, sealInput({ deviceId: 'truck-1' }));
    await ctx.close();

    await cli('shred', '--tenant', 'acme', '--device', 'truck-1');
    expect(process.exitCode).toBe(2);
    expect(err.pop()).toMatch(/TIQ_ERR_USAGE/);
    process.exitCode = undefined;

    const receiptFile = join(dir, 'receipt.json');
    await cli('shred', '--tenant', 'acme', '--device', 'truck-1', '--actor', 'ops-jane', '--receipt', receiptFile, '--yes');
    const receipt = JSON.parse(readFileSync(receiptFile, 'utf8'));
    expect(receipt).toMatchObject({ tenantId: 'acme', deviceId: 'truck-1', actor: 'ops-jane', destroyedDekIds: [record.dekId], destroyedCount: 1, deviceKekRefs: ['device:acme:truck-1:1'] });
    // The key store's vault keeps the tombstone under the receipt's id.
    expect(await listVaultTombstones(loadConfig(join(dir, 'gateway.yaml')).config)).toEqual([
      { tenantId: 'acme', deviceId: 'truck-1', kekRefs: ['device:acme:truck-1:1'], destroyedAtMs: Date.parse(receipt.destroyedAt), receiptId: receipt.receiptId },
    ]);
    expect(Date.parse(receipt.destroyedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.parse(out.pop() ?? '')).toEqual(receipt);
    expect(statSync(receiptFile).mode & 0o777).toBe(0o600);

    const after = await context();
    await expectCode(after.sealer.open(record), 'TIQ_ERR_KEY_SHREDDED');
    await after.close();
  });

  it('shred, with no gateway running, is refused under a legal hold and audited as the local operator either way', async () => {
    const { dir, store, held, err, cli, context } = setup();
    const ctx = await context();
    const record = await sealRecord(ctx.sealer, sealInput({ deviceId: 'truck-7' }));
    await ctx.close();
    held.add('acme/truck-7');
    await cli('shred', '--tenant', 'acme', '--device', 'truck-7', '--yes');
    expect(process.exitCode).toBe(1);
    expect(err.pop()).toMatch(/TIQ_ERR_LEGAL_HOLD/);
    expect([...store.keys.values()].map((k) => k.dekId)).toContain(record.dekId);
    process.exitCode = undefined;

    held.delete('acme/truck-7');
    await cli('shred', '--tenant', 'acme', '--device', 'truck-7', '--yes');
    expect(process.exitCode).toBeUndefined();
    const audit = new AuditLog(join(dir, 'data', 'audit')).query({ action: 'keys.shred' });
    expect(audit.map((e) => [e.actor, e.role, e.result, e.target.startsWith('device:'), e.target.includes('truck-7')]))
      .toEqual([['operator:local', 'operator', 'failed', true, false], ['operator:local', 'operator', 'ok', true, false]]);
    expect(audit[0]!.detail).toMatch(/TIQ_ERR_LEGAL_HOLD/);
    // The command held the data directory's lock only while it worked.
    expect(existsSync(join(dir, 'data', 'thingiq.lock'))).toBe(false);
  });

  it('shred defaults the actor to the OS user and the receipt into <dataDir>/receipts', async () => {
    const { out, cli } = setup();
    await cli('shred', '--tenant', 'acme', '--device', 'truck-1', '--yes');
    const receipt = JSON.parse(out.pop() ?? '');
    expect(receipt.actor).toBeTruthy();
    expect(receipt.destroyedCount).toBe(0);
  });

  it('refuses unknown tenants and invalid ids with their codes', async () => {
    const { err, cli } = setup();
    await cli('rotate', '--tenant', 'initech');
    expect(err.pop()).toMatch(/TIQ_ERR_TENANT_UNKNOWN/);
    await cli('shred', '--tenant', 'acme', '--device', '../etc', '--yes');
    expect(err.pop()).toMatch(/TIQ_ERR_INVALID_ID/);
    expect(process.exitCode).toBe(2);
  });

  it('without a wired store, says so', async () => {
    const dir = tempDir();
    const configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, `dataDir: ${join(dir, 'data')}\ntenants:\n  acme: {}\n`);
    const err: string[] = [];
    const program = new Command('thingiq').option('-c, --config <file>').exitOverride();
    registerKeysCommands(program, { err: (t) => err.push(t) });
    await program.parseAsync(['node', 'thingiq', '--config', configFile, 'keys', 'status', '--tenant', 'acme']);
    expect(err.pop()).toMatch(/TIQ_ERR_CONFIG.*openDataKeyStore/);
  });
});
