/**
 * README promise ("Command line"; docs/admin.md, "The CLI and a running
 * gateway"): with no gateway running, every command that changes state works
 * under the data directory's lock and appends its own audit entry as the
 * local operator, with the API's action name and an `offline` detail; the
 * chain still verifies. Each state-changing command is run for real and must
 * leave exactly one entry of its own: a change with no entry fails here.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { startGateway, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { CLI_TIMEOUT, publish } from './cli-helpers.ts';
import { runCli } from './run-cli.ts';

describe('every state-changing command run offline is audited as the local operator', () => {
  const pki = new TestPki();
  const dataDir = join(pki.baseDir, 'data');
  const configFile = join(pki.baseDir, 'cli.yaml');
  const cli = (...args: string[]) => runCli(pki.baseDir, ['--config', configFile, ...args]);
  const entries = () => new AuditLog(join(dataDir, 'audit')).query({ limit: 10_000 });

  beforeAll(async () => {
    writeFileSync(configFile, stringify({ pkiDir: pki.dir, dataDir, tenants: TEST_TENANTS }));
    // A gateway ran once (keys, stores and audit log exist, a device has records), then stopped.
    const gw = await startGateway(pki);
    await publish(gw.port, pki.device('acme', 'truck-2'), 'truck-2', 2);
    await gw.gateway.close();
  }, 60_000);

  const commands: [string[], string][] = [
    [['pki', 'issue', 'device', '--tenant', 'acme', '--device', 'd-1', '--out', 'out'], 'devices.issue'],
    [['pki', 'issue', 'app', '--tenant', 'acme', '--app', 'dashboard', '--out', 'out'], 'apps.issue'],
    [['pki', 'issue', 'operator', '--name', 'bob', '--out', 'out'], 'operators.issue'],
    [['pki', 'revoke', '--tenant', 'acme', '--device', 'd-1'], 'devices.revoke'],
    [['keys', 'rotate', '--tenant', 'acme'], 'keys.rotate'],
    [['keys', 'rewrap', '--tenant', 'acme'], 'keys.rewrap'],
    [['retention', 'set', '--tenant', 'acme', '--stream', 'location', '--days', '30'], 'retention.rule.set'],
    [['retention', 'hold', '--tenant', 'acme', '--device', 'truck-9'], 'retention.hold.set'],
    [['retention', 'release', '--tenant', 'acme', '--device', 'truck-9'], 'retention.hold.set'],
    [['retention', 'sweep'], 'retention.sweep'],
    [['provisioning', 'claim', 'create', '--tenant', 'acme', '--claim', 'line-1', '--pattern', 'sensor-*', '--max', '3', '--out', 'box'], 'provisioning.claims.create'],
    [['provisioning', 'claim', 'revoke', '--tenant', 'acme', '--claim', 'line-1'], 'provisioning.claims.revoke'],
    [['admin', 'private-mode', 'on', '--tenant', 'acme', '--device', 'truck-2'], 'devices.private-mode.set'],
    [['keys', 'shred', '--tenant', 'acme', '--device', 'truck-2', '--yes'], 'keys.shred'],
    [['backup', 'create', '--out', 'backup.tiqbak'], 'backup.create'],
  ];

  it('one entry per command, with its action, ok, offline, as operator:local; the chain verifies', async () => {
    const seen: string[] = [];
    for (const [args, action] of commands) {
      const before = entries().length;
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      const added = entries().slice(before);
      seen.push(`${args.slice(0, 3).join(' ')} -> ${added.map((e) => `${e.action} ${e.result} ${e.actor}`).join(', ')}`);
      expect(added.map((e) => [e.action, e.result, e.actor, e.role]), args.join(' ')).toEqual([[action, 'ok', 'operator:local', 'operator']]);
      expect(added[0]!.detail?.startsWith('offline'), args.join(' ')).toBe(true);
    }
    expect(seen).toHaveLength(commands.length);
    expect(existsSync(join(pki.baseDir, 'backup.tiqbak'))).toBe(true);
    // Devices appear by pseudonym only, whichever path wrote the entry.
    expect(JSON.stringify(entries())).not.toMatch(/truck-2|truck-9|"d-1"|device:d-1/);
    const verify = await cli('audit', 'verify', '--json');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, CLI_TIMEOUT);
});
