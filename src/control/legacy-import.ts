/**
 * One-time import of the files older versions kept the operator state in.
 * Each source is imported once, in one transaction with its `import` marker,
 * and logged; afterwards the file is no longer read (it stays on disk,
 * untouched, as a backup). A file that cannot be parsed fails the start with
 * TIQ_ERR_CONTROL_STORE rather than being silently skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isTiqError, TiqError } from '../errors.ts';
import type { LegalHoldValue, RetentionRuleValue } from './control-kinds.ts';
import type { ControlStore, ControlStoreLogger, ControlWrite } from './control-store.ts';
import { holdKey, ruleKey } from './retention-state.ts';

/** A source: the file and how to turn its contents into writes. */
export interface LegacySource {
  readonly name: string;
  readonly path: string;
  readonly parse: (text: string) => ControlWrite[];
}

const jsonLines = (text: string): unknown[] => text.split('\n').filter((l) => l.trim() !== '').flatMap((l) => {
  try {
    return [JSON.parse(l) as unknown];
  } catch {
    return []; // a torn last line after a crash: the toggle never completed
  }
});

const serialOf = (s: string): string => s.toLowerCase().replace(/^0+/, '');

export function legacySources(paths: { adminDir: string; privacyDir: string; pkiRegistry: string }): LegacySource[] {
  return [
    {
      name: 'restrictions.json', path: `${paths.adminDir}/restrictions.json`,
      parse: (text) => (JSON.parse(text) as { restrictions: { tenantId: string; deviceId: string; mode: 'drop' | 'refuse'; sinceMs: number; actor: string; reason: string }[] })
        .restrictions.map((r) => ({ kind: 'restriction', key: `${r.tenantId}/${r.deviceId}`, value: r })),
    },
    {
      name: 'registry.json revocations', path: paths.pkiRegistry,
      parse: (text) => (JSON.parse(text) as { certificates: { serial: string; uri: string; status: string; revokedAt?: string; revokedBy?: string }[] })
        .certificates.filter((c) => c.status === 'revoked').map((c) => ({
          kind: 'revocation', key: serialOf(c.serial),
          value: { serial: serialOf(c.serial), uri: c.uri, revokedAt: c.revokedAt ?? '', revokedBy: c.revokedBy ?? '' },
        })),
    },
    {
      name: 'objections.jsonl', path: `${paths.adminDir}/objections.jsonl`,
      parse: (text) => jsonLines(text).map((o, i) => {
        const v = o as { timeMs: number; tenantId: string; deviceId: string; purpose: string; actor: string; reason: string };
        return { kind: 'objection', key: `${v.tenantId}/${v.deviceId}/imported-${i}`, value: v };
      }),
    },
  ];
}

export async function importLegacyFiles(store: ControlStore, sources: readonly LegacySource[], log?: ControlStoreLogger): Promise<void> {
  for (const source of sources) {
    if (store.get('import', source.name) !== undefined || !existsSync(source.path)) continue;
    let writes: ControlWrite[];
    try {
      writes = source.parse(readFileSync(source.path, 'utf8'));
    } catch (err) {
      if (isTiqError(err)) throw err;
      throw new TiqError('TIQ_ERR_CONTROL_STORE', { source: source.path, problems: [`cannot import: ${(err as Error).message}`] });
    }
    // A key the store already has was written since (by a newer process): it wins over the file.
    writes = writes.filter((w) => store.get(w.kind, w.key) === undefined);
    await store.write([...writes, { kind: 'import', key: source.name, value: { atMs: Date.now(), counts: { entries: writes.length } } }], 'system:import');
    log?.info({ event: 'control_imported', source: source.name, path: source.path, entries: writes.length },
      `imported ${writes.length} entries from ${source.path} into the control store (the file is no longer read)`);
  }
}

/** What a sink kept of retention before the control store (StorageSink has these). */
export interface SinkRetentionSource {
  listRetentionRules(): Promise<readonly RetentionRuleValue[]>;
  listLegalHolds(): Promise<readonly LegalHoldValue[]>;
}

/**
 * Imports, once, the rules and holds older versions kept in each tenant's
 * sink (`servesTenant` keeps only rows of tenants that sink serves). A key
 * the store already has is newer than the sink's copy and is kept.
 */
export async function importSinkRetention(store: ControlStore, sinks: ReadonlyMap<string, SinkRetentionSource>,
  servesTenant: (sinkName: string, tenantId: string) => boolean, log?: ControlStoreLogger): Promise<void> {
  const name = 'sink retention rules and legal holds';
  if (store.get('import', name) !== undefined) return;
  const writes: ControlWrite[] = [];
  for (const [sinkName, sink] of sinks) {
    for (const r of await sink.listRetentionRules()) {
      if (servesTenant(sinkName, r.tenantId)) writes.push({ kind: 'retention-rule', key: ruleKey(r.tenantId, r.stream, r.deviceGroup), value: { ...r } });
    }
    for (const h of await sink.listLegalHolds()) {
      if (servesTenant(sinkName, h.tenantId)) writes.push({ kind: 'legal-hold', key: holdKey(h.tenantId, h.deviceId), value: { ...h } });
    }
  }
  const fresh = writes.filter((w) => store.get(w.kind, w.key) === undefined);
  await store.write([...fresh, { kind: 'import', key: name, value: { atMs: Date.now(), counts: { entries: fresh.length } } }], 'system:import');
  if (fresh.length > 0) log?.info({ event: 'control_imported', source: name, entries: fresh.length }, `imported ${fresh.length} retention rules and legal holds from the storage sinks into the control store`);
}
