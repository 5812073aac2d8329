/**
 * The issuance registry in the control store: what the API or the CLI issues
 * is recorded there with its issuer; what tools without the store issued
 * (the journal, registry.json, where older versions kept everything) is
 * listed at once and moved into the store, logged, without duplicates.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { IssuanceRegistry } from '../../src/pki/issuance-registry.ts';
import { initPki, issueIdentity, pkiPaths } from '../../src/pki/pki-store.ts';

describe('issuance registry', () => {
  it('records with the issuer, imports the journal once, lists both, revokes by identity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiq-issued-'));
    const pkiDir = join(dir, 'certs');
    initPki(pkiDir, ['localhost']);
    // Issued by a tool without the store: the journal.
    const journaled = issueIdentity(pkiDir, { kind: 'device', tenantId: 'acme', deviceId: 'd1', uri: '' }, undefined);
    const store = await SqliteControlStore.open({ path: join(dir, 'control.db') });
    const registry = new IssuanceRegistry(pkiPaths(pkiDir).registry, store);
    // Issued with the store at hand: recorded there only, with who asked.
    const recorded = issueIdentity(pkiDir, { kind: 'device', tenantId: 'acme', deviceId: 'd2', uri: '' }, undefined, {}, false);
    await registry.record(recorded.record, 'operator:olga');
    expect(registry.list({ tenantId: 'acme' }).map((r) => [r.subject, r.status])).toEqual([['device acme/d1', 'active'], ['device acme/d2', 'active']]);
    expect(store.get('certificate', recorded.serial.toLowerCase().replace(/^0+/, ''))).toMatchObject({ issuedBy: 'operator:olga', kind: 'device', tenantId: 'acme' });

    const logged: Record<string, unknown>[] = [];
    const log = { info: (f: Record<string, unknown>) => logged.push(f), warn: () => undefined, error: () => undefined };
    // The server certificate of initPki and d1.
    expect(await registry.importJournal(log)).toBe(2);
    expect(await registry.importJournal(log)).toBe(0);
    expect(logged).toEqual([expect.objectContaining({ event: 'control_imported', entries: 2 })]);
    expect(store.entries('certificate').size).toBe(3);
    expect(store.get('certificate', journaled.serial.toLowerCase().replace(/^0+/, ''))).toMatchObject({ issuedBy: 'system:import' });

    const revoked = await registry.revoke({ uri: 'urn:thingiq:tenant:acme:device:d2' }, 'operator:olga');
    expect(revoked.map((r) => r.serial)).toEqual([recorded.serial]);
    expect(registry.isRevoked(recorded.serial)).toBe(true);
    expect(registry.list({ tenantId: 'acme' }).map((r) => r.status)).toEqual(['active', 'revoked']);
    await store.close();
  });
});
