/**
 * Audit checkpoints exported outside the data directory (a file, an HTTPS
 * webhook): each new checkpoint once, none when nothing changed, failures
 * retried; and the exported file catches a rollback of log and checkpoint by
 * someone holding the chain key.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditInput } from '../../src/audit/audit-entry.ts';
import { AuditLog, auditPaths } from '../../src/audit/audit-log.ts';
import { CheckpointExporter } from '../../src/audit/checkpoint-export.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createCa, issueServerCertificate } from '../../src/pki/certificates.ts';

const input = (i: number): AuditInput => ({ actor: `operator:o${i}`, role: 'operator', action: 'devices.revoke', target: 'tenant:acme', tenant: 'acme', result: 'ok', detail: `n=${i}` });
const quiet = { info: () => undefined, warn: (f: Record<string, unknown>) => { warnings.push(f); } };
const warnings: Record<string, unknown>[] = [];

function logWith(n: number): AuditLog {
  const log = new AuditLog(mkdtempSync(join(tmpdir(), 'tiq-export-')));
  for (let i = 1; i <= n; i++) log.append(input(i));
  return log;
}

/** Someone on the host (the chain key is in the log's directory) keeps only the first entries and lets the next append rewrite the checkpoint. */
function rollBack(log: AuditLog, keep: number): void {
  const kept = readFileSync(log.path, 'utf8').trim().split('\n').slice(0, keep);
  writeFileSync(log.path, `${kept.join('\n')}\n`);
  log.append(input(99));
}

describe('audit checkpoint export', () => {
  const ca = createCa('Webhook test CA');
  const server = issueServerCertificate(ca, ['localhost']);
  const bodies: Record<string, unknown>[] = [];
  let status = 200;
  let webhook: Server;
  let url = '';
  const caFile = join(mkdtempSync(join(tmpdir(), 'tiq-export-ca-')), 'ca.pem');

  beforeAll(async () => {
    writeFileSync(caFile, ca.certPem);
    webhook = createServer({ cert: server.certPem, key: server.keyPem }, (req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => { text += d.toString(); });
      req.on('end', () => { if (status === 200) bodies.push(JSON.parse(text) as Record<string, unknown>); res.writeHead(status).end(); });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    const address = webhook.address();
    url = `https://localhost:${typeof address === 'object' && address ? address.port : 0}/checkpoints`;
  });
  afterAll(() => new Promise<void>((r) => webhook.close(() => r())));

  it('exports each new checkpoint once to the file and the webhook, nothing when unchanged, and retries a refused webhook', async () => {
    const log = logWith(3);
    const file = join(mkdtempSync(join(tmpdir(), 'tiq-export-out-')), 'checkpoints.jsonl');
    const exporter = new CheckpointExporter(auditPaths(log.dir).checkpoint, { file, url, caFile, intervalMs: 60_000 }, quiet);
    await exporter.exportNow();
    await exporter.exportNow();
    const lines = () => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; mac: string; host: string });
    expect(lines().map((l) => l.seq)).toEqual([3]);
    expect(bodies.map((b) => b['seq'])).toEqual([3]);
    expect(lines()[0]).toMatchObject({ hash: log.head().hash, mac: expect.stringMatching(/^[0-9a-f]{64}$/), host: expect.any(String) });

    log.append(input(4));
    status = 500;
    await exporter.exportNow();
    expect(warnings.at(-1)).toMatchObject({ event: 'audit_checkpoint_export_failed' });
    status = 200;
    await exporter.exportNow();
    expect(bodies.map((b) => b['seq'])).toEqual([3, 4]);
    expect(lines().map((l) => l.seq).at(-1)).toBe(4);
    await exporter.close();
  });

  it('refuses a webhook whose certificate another CA issued: nothing is delivered, the failure is logged and retried', async () => {
    const log = logWith(2);
    const otherCa = createCa('Impostor CA');
    const impostorCert = issueServerCertificate(otherCa, ['localhost']);
    const received: string[] = [];
    const impostor = createServer({ cert: impostorCert.certPem, key: impostorCert.keyPem }, (req, res) => {
      req.on('data', (d: Buffer) => { received.push(d.toString()); });
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    try {
      const address = impostor.address();
      const impostorUrl = `https://localhost:${typeof address === 'object' && address ? address.port : 0}/checkpoints`;
      const before = warnings.length;
      const exporter = new CheckpointExporter(auditPaths(log.dir).checkpoint, { url: impostorUrl, caFile, intervalMs: 60_000 }, quiet);
      await exporter.exportNow();
      expect(received).toEqual([]);
      expect(warnings.slice(before)).toEqual([expect.objectContaining({ event: 'audit_checkpoint_export_failed', code: 'TIQ_ERR_AUDIT' })]);
      expect(String(warnings.at(-1)?.['reason'])).not.toContain(log.head().hash);
      // Not marked as exported: the next run tries again.
      await exporter.exportNow();
      expect(warnings.length).toBe(before + 2);
    } finally {
      await new Promise<void>((r) => impostor.close(() => r()));
    }
  });

  it('the exported file catches a log and checkpoint rolled back by someone holding the chain key', async () => {
    const log = logWith(6);
    const file = join(mkdtempSync(join(tmpdir(), 'tiq-export-out-')), 'checkpoints.jsonl');
    await new CheckpointExporter(auditPaths(log.dir).checkpoint, { file, intervalMs: 60_000 }, quiet).exportNow();
    expect(verifyAuditLog(log.path, { checkpointFile: file }).ok).toBe(true);
    rollBack(log, 2);
    // Consistent on the host: the local checkpoint moved with the forged log.
    expect(verifyAuditLog(log.path).ok).toBe(true);
    expect(verifyAuditLog(log.path, { checkpointFile: file }).ok).toBe(false);
  });

  it('the config takes https only and needs a file or a url', () => {
    const at = (checkpointExport: unknown) => () => parseConfig({ tenants: {}, audit: { checkpointExport } });
    expect(at({ url: 'http://example.net/x' })).toThrow();
    expect(at({ intervalMs: 5000 })).toThrow();
    expect(at({ file: '/var/lib/thingiq-anchor/checkpoints.jsonl' })()).toMatchObject({ audit: { checkpointExport: { intervalMs: 300_000 } } });
  });
});
